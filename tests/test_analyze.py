"""ferlite analyze: photos, folders, globs and videos into one table, in the format the extension names."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import run_ferlite as _ferlite

from ferlite.core.paths import find_shared

FIXTURES = Path(__file__).parent / "fixtures"
EVENT = "media/faces_multi_event_ccby_640x480.mp4"  # 90 frames, 4 to 5 faces


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("inputs")
    (root / "photos" / "sub").mkdir(parents=True)
    shutil.copy(FIXTURES / "astronaut_nasa_512.png", root / "photos" / "astronaut.png")
    shutil.copy(FIXTURES / "astronaut_nasa_512.png", root / "photos" / "sub" / "again.png")
    (root / "photos" / "blank.png").write_bytes(
        __import__("cv2").imencode(".png", np.full((64, 64, 3), 128, np.uint8))[1].tobytes()
    )
    (root / "photos" / "notes.txt").write_text("not an image")
    return root


def test_analyze_writes_a_row_per_face_and_keeps_faceless_inputs(inputs, tmp_path):
    out = tmp_path / "t.csv"
    proc = _ferlite("analyze", inputs / "photos", find_shared(EVENT), "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(out)))
    photos = [r for r in rows if r["source"].endswith(".png")]
    assert sorted(Path(r["source"]).name for r in photos) == ["again.png", "astronaut.png", "blank.png"]  # recursive
    blank = next(r for r in photos if r["source"].endswith("blank.png"))
    assert blank["face"] == "" and blank["label"] == "" and blank["happy"] == ""  # kept, with empty face columns
    astronaut = next(r for r in photos if r["source"].endswith("astronaut.png"))
    assert astronaut["label"] == "happy" and astronaut["model"] == "emotion_default.int8.onnx" and astronaut["ferlite_version"]
    labels = ["neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"]
    assert abs(sum(float(astronaut[c]) for c in labels) - 1) < 1e-3
    video = [r for r in rows if r["source"].endswith(".mp4")]
    assert {int(r["frame"]) for r in video} == set(range(90))  # every frame has at least one row
    assert all(r["tracker_id"] != "" for r in video if r["face"] != "")
    assert float(video[-1]["time_s"]) == pytest.approx(89 / 29.97, abs=0.01)


@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_analyze_json_formats_follow_the_extension(inputs, tmp_path, suffix):
    out = tmp_path / f"t{suffix}"
    proc = _ferlite("analyze", str(inputs / "photos" / "*.png"), "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    rows = json.loads(text) if suffix == ".json" else [json.loads(line) for line in text.splitlines()]
    assert isinstance(rows, list) and {Path(r["source"]).name for r in rows} == {"astronaut.png", "blank.png"}  # the glob


def test_analyze_refuses_an_unknown_format_and_a_missing_input(inputs, tmp_path):
    proc = _ferlite("analyze", inputs / "photos", "-o", tmp_path / "t.xlsx")
    assert proc.returncode == 2 and "unknown table format" in proc.stderr and not (tmp_path / "t.xlsx").exists()
    proc = _ferlite("analyze", tmp_path / "nothing_here", "-o", tmp_path / "t.csv")
    assert proc.returncode == 2 and "nothing_here: no such file" in proc.stderr and "Traceback" not in proc.stderr


def test_python_analyze_and_faces_to_pandas_agree(inputs):
    pd = pytest.importorskip("pandas")
    from ferlite.apps.analyze import analyze
    from ferlite.runtime import Recognizer

    df = analyze(inputs / "photos" / "astronaut.png", threads=1)
    assert isinstance(df, pd.DataFrame) and list(df.label) == ["happy"]
    faces = Recognizer(threads=1).predict(inputs / "photos" / "astronaut.png")
    table = faces.to_pandas()
    assert table.label.tolist() == ["happy"] and table.happy.iloc[0] == pytest.approx(df.happy.iloc[0], abs=1e-4)
    assert json.loads(faces.to_json())[0]["label"] == "happy"


def _blank_then_face_video(path: Path, blank: int = 4, face: int = 4) -> Path:
    """A short clip: ``blank`` gray frames with no face, then ``face`` frames of the astronaut photo."""
    import cv2

    from ferlite.runtime import VideoInfo, VideoSink

    photo = cv2.imread(str(FIXTURES / "astronaut_nasa_512.png"))
    with VideoSink(path, VideoInfo(512, 512, 10.0, None)) as sink:
        for _ in range(blank):
            sink.write(np.full((512, 512, 3), 128, np.uint8))
        for _ in range(face):
            sink.write(photo)
    return path


def test_watch_csv_records_keep_faceless_frames_and_name_the_model(tmp_path):
    clip = _blank_then_face_video(tmp_path / "clip.avi")
    proc = _ferlite("watch", clip, "--records", tmp_path / "r.csv", "--threads", "1")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert [int(r["frame"]) for r in rows] == list(range(8))
    assert all(r["label"] == "" for r in rows[:4]) and all(r["label"] == "happy" for r in rows[4:])
    assert {r["model"] for r in rows} == {"emotion_default.int8.onnx"}
    bad = _ferlite("watch", clip, "--records", tmp_path / "r.txt")
    assert bad.returncode == 2 and "must be .csv or .jsonl" in bad.stderr


@pytest.mark.parametrize(
    "suffix, fourccs", [(".mp4", {"avc1", "h264", "FMP4", "mp4v"}), (".webm", {"VP90", "VP80"}), (".avi", {"MJPG"})]
)
def test_the_output_codec_follows_the_extension(tmp_path, suffix, fourccs):
    import cv2

    from ferlite.runtime import FrameSource

    path = _blank_then_face_video(tmp_path / f"v{suffix}", 3, 2)
    cap = cv2.VideoCapture(str(path))
    fourcc = int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little").decode(errors="replace")
    cap.release()
    assert fourcc in fourccs and sum(1 for _ in FrameSource(path)) == 5


def test_an_unknown_video_extension_is_refused(tmp_path):
    from ferlite.core.errors import DataError
    from ferlite.runtime import VideoInfo, VideoSink

    with pytest.raises(DataError, match="unknown video extension '.xyz'"):
        VideoSink(tmp_path / "v.xyz", VideoInfo(64, 64, 10.0, None))


def test_the_fps_counter_is_burnt_in_only_on_request(tmp_path):
    import cv2

    clip = _blank_then_face_video(tmp_path / "clip.avi", 3, 0)  # gray frames only: nothing but the overlay draws
    for flag, name in ((["--fps-overlay"], "with.avi"), ([], "without.avi")):
        proc = _ferlite("watch", clip, "-o", tmp_path / name, "--threads", "1", *flag)
        assert proc.returncode == 0, proc.stderr
    frames = {}
    for name in ("with.avi", "without.avi"):
        cap = cv2.VideoCapture(str(tmp_path / name))
        frames[name] = cap.read()[1].astype(int)
        cap.release()
    assert np.abs(frames["without.avi"] - 128).max() < 12  # still the plain gray frame (MJPEG noise only)
    assert np.abs(frames["with.avi"] - 128).max() > 60  # the counter is drawn


def test_analyze_writes_parquet_that_pandas_reads_back(inputs, tmp_path):
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    out = tmp_path / "t.parquet"
    proc = _ferlite("analyze", inputs / "photos" / "astronaut.png", "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    df = pd.read_parquet(out)
    assert list(df.label) == ["happy"] and df.happy.iloc[0] > 0.5 and df.x2.dtype.kind == "f"


def test_parquet_has_integer_face_and_tracker_ids(tmp_path):
    """pandas wrote face and tracker_id as floats (1.0, NaN); pyarrow now writes the table's own schema."""
    pq = pytest.importorskip("pyarrow.parquet")
    clip = _blank_then_face_video(tmp_path / "clip.avi", 2, 3)
    out = tmp_path / "t.parquet"
    proc = _ferlite("analyze", clip, "-o", out, "--threads", "1", "--no-progress")
    assert proc.returncode == 0, proc.stderr
    schema = pq.read_schema(out)
    for name in ("frame", "face", "tracker_id"):
        assert str(schema.field(name).type) == "int64", name
    table = pq.read_table(out).to_pydict()
    assert table["face"] == [None, None, 0, 0, 0] and table["tracker_id"][2:] == [1, 1, 1]


def test_parquet_without_pyarrow_is_refused_before_the_first_frame(tmp_path):
    """In a runtime install, `analyze ... -o t.parquet` processed everything (18 s), then said pandas was missing."""
    clip = find_shared("media/faces_multi_hikers_ccby_640x480.mp4")
    code = (
        "import sys; sys.modules['pyarrow'] = None; from ferlite.cli import main; "
        f"sys.exit(main(['analyze', {str(clip)!r}, '-o', {str(tmp_path / 't.parquet')!r}, '--no-progress']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "t.parquet: Parquet needs pyarrow" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "t.parquet").exists()


def test_an_interrupted_analyze_leaves_the_earlier_table_whole(tmp_path):
    """`analyze -o T.csv` wrote in place, so kill -9 replaced an existing table with a partial one."""
    import signal
    import time

    out = tmp_path / "emotions.csv"
    out.write_text("the earlier table\n")
    clip = find_shared("media/faces_multi_hikers_ccby_640x480.mp4")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ferlite", "analyze", clip, "-o", out, "--threads", "1", "--no-progress"],
        stderr=subprocess.DEVNULL,
    )
    partial = tmp_path / ".emotions.csv.partial"
    deadline = time.monotonic() + 60
    while not (partial.exists() and partial.stat().st_size > 10_000) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None and partial.exists()  # killed halfway through, with rows already written
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert out.read_text() == "the earlier table\n"


def _short_clip(path, frames: int = 30):
    import cv2

    cap = cv2.VideoCapture(str(find_shared("media/faces_multi_event_ccby_640x480.mp4")))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25, (640, 480))
    for _ in range(frames):
        ok, frame = cap.read()
        assert ok
        writer.write(frame)
    writer.release()
    return path


@pytest.mark.slow
@pytest.mark.xdist_group("ray")  # one local Ray instance at a time
def test_the_process_pool_and_ray_engines_give_the_local_rows(tmp_path):
    """The same inputs through one process, a pool of two, and Ray Data (started here, two actors): equal tables."""
    import pandas as pd

    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "astronaut.png").write_bytes((FIXTURES / "astronaut_nasa_512.png").read_bytes())
    clip = _short_clip(tmp_path / "clip.avi")
    tables = {}
    for name, extra in {
        "one": ["--workers", "1"],
        "pool": ["--workers", "2"],
        "ray": ["--engine", "ray", "--workers", "2"],  # --engine ray wrote Parquet only
    }.items():
        out = tmp_path / f"{name}.csv"
        proc = _ferlite("analyze", photos, clip, "-o", out, "--no-progress", *extra)
        assert proc.returncode == 0, proc.stderr[-2000:]
        tables[name] = pd.read_csv(out)
    one = tables["one"]
    assert len(one) > 100 and one.source.nunique() == 2 and one.tracker_id.notna().any()
    for name in ("pool", "ray"):
        pd.testing.assert_frame_equal(tables[name], one, check_dtype=False, obj=name)
