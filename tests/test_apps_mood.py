"""Mood monitoring: the SQLite log (WAL, schema checks, crash safety) and the report, on real footage."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ferlite.apps.mood import APPLICATION_ID, MoodRecorder, load_samples, open_database, smooth, summarize
from ferlite.core.errors import DataError
from ferlite.core.paths import find_shared
from ferlite.core.taxonomy import EMOTIONS
from ferlite.runtime import Faces

pytestmark = pytest.mark.needs_shared

FACE1 = find_shared("media/face1_emotions_pexels_640x480.mp4")
LABELS = ("angry", "happy", "neutral", "sad", "surprise")


def _faces(probs, track_ids):
    n = len(track_ids)
    return Faces(np.zeros((n, 4)), np.ones(n), scores=np.array(probs, np.float32), tracker_id=np.array(track_ids), labels=LABELS)


def test_recorder_samples_each_track_at_the_rate_and_stores_numbers_only(tmp_path):
    db = tmp_path / "mood.db"
    with MoodRecorder(db, "test", LABELS, sample_every=1.0) as log:
        for k in range(10):  # 10 frames over 2.25 s, two tracks
            log.add(1000.0 + k * 0.25, _faces([[0.1, 0.6, 0.1, 0.1, 0.1], [0.5, 0.1, 0.2, 0.1, 0.1]], [1, 2]))
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
    rows = con.execute("SELECT track_id, t, p_happy, p_angry, p_fear FROM samples ORDER BY track_id, t").fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, 1000.0), (1, 1001.0), (1, 1002.0), (2, 1000.0), (2, 1001.0), (2, 1002.0)]
    assert rows[0][2] == pytest.approx(0.6) and rows[0][4] is None  # no fear in a 5-class model
    types = {r[2] for r in con.execute("SELECT * FROM pragma_table_info('samples')")}
    assert types <= {"INTEGER", "REAL"}  # no images, no blobs
    assert con.execute("SELECT ended_at FROM sessions").fetchone()[0] is not None


def test_commits_within_a_second_so_a_crash_loses_at_most_that(tmp_path):
    db = tmp_path / "mood.db"
    log = MoodRecorder(db, "test", LABELS, sample_every=0.0, commit_every=1.0)
    log.add(1.0, _faces([[0.2] * 5], [1]))
    reader = sqlite3.connect(db)
    assert reader.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 0  # not yet committed
    time.sleep(1.05)
    log.add(2.0, _faces([[0.2] * 5], [1]))
    assert reader.execute("SELECT COUNT(*) FROM samples").fetchone()[0] == 2  # visible to another process
    log.close()


@pytest.mark.slow
def test_killed_recorder_leaves_a_sound_database(tmp_path):
    from ferlite.runtime import FrameSource, VideoSink

    # The clip four times over: a file is recorded as fast as the machine runs, and one pass of the clip can end
    # within a poll of the first commit, so the kill would come after the close.
    looped = tmp_path / "looped.avi"
    with VideoSink(looped, FrameSource(FACE1).info) as sink:
        for _ in range(4):
            for _, frame in FrameSource(FACE1):
                sink.write(frame)
    db = tmp_path / "mood.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferlite", "mood", "record", str(looped), "--db", str(db), "--rate", "10", "--threads", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until samples are committed, then kill it mid-run
        time.sleep(0.1)
        if db.exists():
            try:
                if sqlite3.connect(db).execute("SELECT COUNT(*) FROM samples").fetchone()[0] > 0:
                    break
            except sqlite3.OperationalError:
                pass
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    con = sqlite3.connect(db)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert con.execute("SELECT COUNT(*) FROM samples").fetchone()[0] > 0
    assert con.execute("SELECT ended_at FROM sessions").fetchone()[0] is None  # it never got to close
    assert len(load_samples(db)) > 0


@pytest.mark.parametrize("kind", ["text", "other_sqlite", "newer_schema"])
def test_foreign_or_newer_files_are_refused_and_left_untouched(tmp_path, kind):
    path = tmp_path / "x.db"
    if kind == "text":
        path.write_text("these are my notes, not a database\n" * 20)
    elif kind == "other_sqlite":
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE contacts (name TEXT)")
        con.commit()
        con.close()
    else:
        open_database(path).close()
        con = sqlite3.connect(path)
        con.execute("PRAGMA user_version = 99")
        con.commit()
        con.close()
    before = path.read_bytes()
    with pytest.raises(DataError, match="x.db") as e:
        MoodRecorder(path, "test", LABELS)
    assert "not changed" in str(e.value)
    with pytest.raises(DataError):
        load_samples(path)
    assert path.read_bytes() == before
    out = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "report", str(path), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "x.db" in out.stderr and "Traceback" not in out.stderr
    assert path.read_bytes() == before


def test_smooth_is_a_centred_moving_average():
    t = np.arange(10.0)
    v = np.arange(10.0)[:, None]
    assert smooth(t, v, 2.0)[5, 0] == pytest.approx(5.0)
    assert smooth(t, v, 2.0)[0, 0] == pytest.approx(0.5)


@pytest.mark.slow
def test_record_and_report_on_real_footage(tmp_path):
    db, out = tmp_path / "mood.db", tmp_path / "report"
    rec = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "record", str(FACE1), "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rec.returncode == 0, rec.stderr
    s = load_samples(db)
    assert 18 <= len(s) <= 21  # one sample a second for 19.7 s of one face
    t = s.t - s.t.min()
    sad, happy = s.probs[:, EMOTIONS.index("sad")], s.probs[:, EMOTIONS.index("happy")]
    assert np.nanmean(sad[t < 6]) > np.nanmean(happy[t < 6])  # crying first
    assert np.nanmean(happy[t >= 11]) > 0.6  # smiling after
    summary = summarize(s)
    assert summary["per_session"][0]["samples"] == len(s) and len(summary["per_day"]) == 1
    rep = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "report", str(db), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rep.returncode == 0, rep.stderr
    page = (out / "mood.html").read_text()
    assert "data:image/png;base64," in page and "Per day" in page and "<script" not in page  # self-contained
    assert (out / "mood.png").stat().st_size > 20_000
    assert len((out / "samples.csv").read_text().splitlines()) == len(s) + 1
    assert json.loads((out / "summary.json").read_text())["per_session"][0]["source"].endswith(".mp4")
    df = s.to_dataframe()
    assert len(df) == len(s) and {"valence", "arousal", "happy"} <= set(df.columns)


def _faces_at(track: int):
    from ferlite.runtime import Faces

    return Faces(np.zeros((1, 4)), np.ones(1), scores=np.eye(2)[[1]], tracker_id=[track], labels=("sad", "happy"))


def test_a_path_with_hash_or_question_mark_works_again_and_again(tmp_path):
    db = tmp_path / "mood #1?.db"
    for _ in range(2):
        with MoodRecorder(db, "clip", ("sad", "happy"), sample_every=0.0) as log:
            log.add(1.0, _faces_at(1))
    assert len(load_samples(db)) == 2
    assert all(p.name.startswith("mood #1?.db") for p in tmp_path.iterdir())  # no stray file named "mood "


def test_a_damaged_database_is_refused_and_left_untouched(tmp_path):
    db = tmp_path / "mood.db"
    with MoodRecorder(db, "clip", ("sad", "happy"), sample_every=0.0) as log:
        for t in range(2000):
            log.add(float(t), _faces_at(t))
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    data = bytearray(db.read_bytes())
    data[8192 : 8192 + 64] = b"\xff" * 64  # the header of a b-tree page past the first two, overwritten
    db.write_bytes(bytes(data))
    before = db.read_bytes()
    with pytest.raises(DataError, match="damaged"):
        MoodRecorder(db, "clip", ("sad", "happy"))
    with pytest.raises(DataError, match="damaged"):
        load_samples(db)
    assert db.read_bytes() == before


def test_unwritable_places_and_empty_files_are_one_clear_error(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(DataError, match="cannot write the mood database"):
        MoodRecorder(blocker / "mood.db", "clip", ("sad", "happy"))
    (tmp_path / "empty.db").write_bytes(b"")
    with pytest.raises(DataError, match="an empty file, not a mood log yet"):
        load_samples(tmp_path / "empty.db")
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "report", str(tmp_path / "empty.db"), "--out", str(tmp_path / "r")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "empty file" in proc.stderr and "Traceback" not in proc.stderr


def test_the_docs_mood_figure_says_what_its_commands_give(tmp_path):
    """docs/APPS.md said "sad dominates the first 8 s" where the model reads disgust: its caption's claims, checked on
    the output of the very command it names."""
    caption = " ".join((Path(__file__).parents[1] / "docs" / "APPS.md").read_text().split())
    assert "79 samples; disgust and sad share the first 8 s" in caption
    assert "fear and surprise lead around 6-9 s (she looks up), happy from about 10 s" in caption
    db = tmp_path / "doc.db"
    rec = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "record", str(FACE1), "--db", str(db), "--rate", "4"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rec.returncode == 0, rec.stderr
    s = load_samples(db)
    t = s.t - s.t.min()

    def leaders(mask, n: int = 2) -> set[str]:
        means = np.nanmean(s.probs[mask], axis=0)
        return {EMOTIONS[i] for i in np.argsort(means)[::-1][:n]}

    assert len(s) == 79
    assert leaders(t < 8) == {"disgust", "sad"}
    assert leaders((t >= 6) & (t < 9)) == {"fear", "surprise"}
    assert leaders(t >= 10, 1) == {"happy"} and np.nanmean(s.probs[t >= 10, EMOTIONS.index("happy")]) > 0.8


def test_a_read_only_database_is_reported_and_refused_for_recording_by_name(tmp_path):
    """A mood log on a read-only file in a read-only folder (a copy off a read-only share): reports read it, recording
    says it is read-only. Root ignores file modes, so as root the commands run as nobody."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="ferlite-ro-"))  # under /tmp, where nobody may enter; tmp_path is private
    try:
        db = folder / "mood.db"
        with MoodRecorder(db, "test", LABELS, sample_every=0.0) as log:
            for k in range(3):
                log.add(float(k), _faces([[0.1, 0.6, 0.1, 0.1, 0.1]], [1]))
        assert not Path(f"{db}-shm").exists()  # the writer has gone: a reader would have to create it
        db.chmod(0o444)
        folder.chmod(0o555)
        # setpriv rather than subprocess's user=, which this VM refuses to exec the venv's python with
        as_nobody = ["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"] if os.geteuid() == 0 else []

        def ferlite(*args):
            command = [*as_nobody, sys.executable, "-m", "ferlite", "mood", *args]
            return subprocess.run(command, capture_output=True, text=True, timeout=180, cwd=tempfile.gettempdir())

        report = ferlite("report", str(db), "--out", str(Path(tempfile.gettempdir()) / f"{folder.name}-report"))
        assert report.returncode == 0, report.stderr
        assert "not a SQLite database" not in report.stderr
        record = ferlite("record", str(FACE1), "--db", str(db), "--max-frames", "3")
        assert record.returncode == 2 and "Traceback" not in record.stderr
        assert "is read-only, so nothing can be recorded there" in record.stderr
    finally:
        folder.chmod(0o755)
        import shutil

        shutil.rmtree(folder)
        shutil.rmtree(Path(tempfile.gettempdir()) / f"{folder.name}-report", ignore_errors=True)


def test_a_report_leaves_nothing_in_the_home_folder_or_in_tmp(tmp_path):
    db = tmp_path / "mood.db"
    with MoodRecorder(db, "test", LABELS, sample_every=0.0) as log:
        for k in range(3):
            log.add(float(k), _faces([[0.1, 0.6, 0.1, 0.1, 0.1]], [1]))
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir(), tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XDG_", "MPL"))} | {"HOME": str(home), "TMPDIR": str(tmp)}
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "mood", "report", str(db), "--out", str(tmp_path / "r")],
        capture_output=True, text=True, timeout=180, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "r" / "mood.png").stat().st_size > 1000
    assert list(home.rglob("*")) == [] and list(tmp.rglob("*")) == []
