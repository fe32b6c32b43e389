"""Mood monitoring over time: per-track emotion probabilities in SQLite, and reports.

Recording (:class:`MoodRecorder`) appends one row per tracked face per sample to a
SQLite database in WAL mode and commits at least once a second, so a crash or Ctrl-C
loses at most the last second. Only numbers are stored, never images.

Reading (:func:`load_samples`, :func:`summarize`, :func:`write_report`) gives per-session
and per-day summaries, a valence/arousal proxy, CSV or pandas export, and a PNG plus a
self-contained HTML report.

A file is opened only after it is checked: a foreign file, another program's database or
one written by a newer ferlite is refused with a clear error and left untouched.

Example:
    >>> with MoodRecorder("mood.db", source="webcam 0", labels=rec.labels) as log:  # doctest: +SKIP
    ...     for index, frame in FrameSource("0"):
    ...         log.add(time.time(), rec.update(frame))
    >>> write_report("mood.db", "report/")  # doctest: +SKIP
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
import sqlite3
import time
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import DataError
from ..core.figures import pyplot
from ..core.taxonomy import EMOTIONS
from ..runtime.faces import Faces

# 'FERM' in ASCII: marks a database as ferlite's mood log (PRAGMA application_id).
APPLICATION_ID = 0x4645524D
SCHEMA_VERSION = 1
PROB_COLUMNS = tuple(f"p_{e}" for e in EMOTIONS)

_SCHEMA = f"""
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    started_at REAL NOT NULL,      -- unix time
    ended_at REAL,                 -- unix time; NULL while recording or after a crash
    source TEXT NOT NULL,
    model TEXT NOT NULL,
    labels TEXT NOT NULL,          -- JSON list: the model's classes
    sample_every REAL NOT NULL     -- seconds between samples of one track
);
CREATE TABLE samples (
    id INTEGER PRIMARY KEY,
    session_id INTEGER NOT NULL REFERENCES sessions(id),
    t REAL NOT NULL,               -- unix time of the frame
    track_id INTEGER NOT NULL,
    {", ".join(f"{c} REAL" for c in PROB_COLUMNS)}  -- NULL for classes the model does not have
);
CREATE INDEX samples_by_time ON samples(session_id, t);
"""

# Circumplex-model coordinates (valence, arousal) in [-1, 1] per emotion (after Russell, 1980):
# a coarse proxy, the probability-weighted mean of these points.
VALENCE_AROUSAL = {
    "angry": (-0.6, 0.7),
    "disgust": (-0.7, 0.3),
    "fear": (-0.7, 0.6),
    "happy": (0.8, 0.5),
    "sad": (-0.7, -0.4),
    "surprise": (0.3, 0.8),
    "neutral": (0.0, 0.0),
    "contempt": (-0.5, 0.2),
}


def _read_only(path: Path) -> sqlite3.Connection:
    """A read-only connection; the path goes into the URI percent-encoded, so that ``#`` or ``?`` in it are names.

    A WAL database opened read-only still needs its ``-shm`` file, which SQLite must create when the writer has gone:
    on a read-only file or folder that fails with "attempt to write a readonly database". Then the file is opened as
    immutable, which reads it without the shared memory (nobody can be writing to a file nobody may write).
    """
    uri = path.resolve().as_uri()
    con = sqlite3.connect(f"{uri}?mode=ro", uri=True)
    try:
        con.execute("SELECT 1 FROM sqlite_master LIMIT 1").fetchall()
    except sqlite3.OperationalError as e:
        con.close()
        if "readonly" not in str(e) and "unable to open" not in str(e):
            raise
        con = sqlite3.connect(f"{uri}?immutable=1", uri=True)
    return con


def _writable(path: Path) -> bool:
    """Whether SQLite can write the file and, for its journal and WAL files, the folder it is in."""
    folder = path.parent if path.parent != Path("") else Path(".")
    return (not path.exists() or os.access(path, os.W_OK)) and os.access(folder, os.W_OK | os.X_OK)


def _check_database(path: Path) -> None:
    """Refuse a file that is not an empty file or a sound ferlite mood database of a known schema, without writing to
    it (a corrupt one is found by SQLite's quick check, read-only, before anything is written)."""
    if not path.exists() or path.stat().st_size == 0:
        return
    try:
        con = _read_only(path)
        try:
            check = con.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise DataError(f"{path}: the database is damaged ({check}); the file was not changed")
            app_id = con.execute("PRAGMA application_id").fetchone()[0]
            version = con.execute("PRAGMA user_version").fetchone()[0]
            tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        finally:
            con.close()
    except sqlite3.DatabaseError as e:
        raise DataError(f"{path}: not a SQLite database ({e}); the file was not changed") from None
    if app_id != APPLICATION_ID or not {"sessions", "samples"} <= tables:
        raise DataError(f"{path}: a SQLite database, but not a ferlite mood log; the file was not changed")
    if version > SCHEMA_VERSION:
        raise DataError(
            f"{path}: written with mood schema version {version}, newer than this ferlite's {SCHEMA_VERSION}; "
            "upgrade ferlite (the file was not changed)"
        )
    if version < 1:
        raise DataError(f"{path}: mood log with unknown schema version {version}; the file was not changed")


def open_database(path: str | Path, create: bool = True) -> sqlite3.Connection:
    """Open (or create) a mood database after checking it; WAL mode, foreign keys on.

    Raises:
        DataError: a foreign file, another program's database, or a newer schema.
    """
    path = Path(path)
    if not create and not path.is_file():
        raise DataError(f"{path}: mood database not found")
    _check_database(path)
    if path.parent.is_dir() and not _writable(path):
        what = "the database or its folder" if path.exists() else "the folder"
        raise DataError(f"{path}: {what} is read-only, so nothing can be recorded there (mood report can still read it)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(path, timeout=10)
        con.execute("PRAGMA foreign_keys = ON")
        if con.execute("PRAGMA user_version").fetchone()[0] == 0:
            with con:
                con.executescript(_SCHEMA)
                con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
                con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("PRAGMA journal_mode = WAL")
        # In WAL mode NORMAL syncs at checkpoints: a power cut may lose the last commits, an app crash none.
        con.execute("PRAGMA synchronous = NORMAL")
    except (OSError, sqlite3.Error) as e:  # an unwritable folder, a parent that is a file, a full disk
        raise DataError(f"{path}: cannot write the mood database there ({e})") from None
    return con


class MoodRecorder:
    """Append per-track emotion probabilities to a mood database, one session per recorder.

    Args:
        db_path: the SQLite file (created when missing).
        source: what is being watched (a file name, ``webcam 0``); stored with the session.
        labels: the classifier's classes, in the order of ``Faces.scores``.
        model: the model's name, stored with the session.
        sample_every: seconds between two samples of the same track.
        commit_every: seconds between commits; a crash loses at most this much.

    Example:
        >>> with MoodRecorder("mood.db", "clip.mp4", ("angry", "happy")) as log:  # doctest: +SKIP
        ...     log.add(t, faces)
    """

    def __init__(
        self,
        db_path: str | Path,
        source: str,
        labels: tuple[str, ...],
        model: str = "",
        sample_every: float = 1.0,
        commit_every: float = 1.0,
    ) -> None:
        unknown = [c for c in labels if c not in EMOTIONS]
        if unknown:
            raise DataError(f"the model's classes {unknown} are not emotions ferlite knows")
        self.labels, self.sample_every, self.commit_every = tuple(labels), sample_every, commit_every
        self.con = open_database(db_path)
        with self.con:
            cur = self.con.execute(
                "INSERT INTO sessions (started_at, source, model, labels, sample_every) VALUES (?, ?, ?, ?, ?)",
                (time.time(), source, model, json.dumps(list(labels)), sample_every),
            )
        self.session_id = cur.lastrowid
        self._columns = [f"p_{c}" for c in self.labels]
        self._insert = (
            f"INSERT INTO samples (session_id, t, track_id, {', '.join(self._columns)}) "
            f"VALUES (?, ?, ?, {', '.join('?' * len(self._columns))})"
        )
        self._last_sample: dict[int, float] = {}
        self._pending: list[tuple] = []
        self._last_commit = time.monotonic()
        self.rows = 0

    def add(self, t: float, faces: Faces) -> int:
        """Queue a sample of each tracked face due at unix time ``t``; returns how many were taken."""
        taken = 0
        if faces.scores is not None and len(faces):
            ids = faces.tracker_id if faces.tracker_id is not None else np.zeros(len(faces), np.int64)
            for track, probs in zip(ids.tolist(), faces.scores):
                if track < 0 or t - self._last_sample.get(track, -np.inf) < self.sample_every:
                    continue
                self._last_sample[track] = t
                self._pending.append((self.session_id, t, track, *(round(float(p), 5) for p in probs)))
                taken += 1
        if time.monotonic() - self._last_commit >= self.commit_every:
            self.commit()
        return taken

    def commit(self) -> None:
        if self._pending:
            try:
                with self.con:
                    self.con.executemany(self._insert, self._pending)
            except sqlite3.Error as e:  # a full disk: the samples written so far stay; the rest are reported
                raise DataError(f"mood database: could not write {len(self._pending)} samples ({e})") from None
            self.rows += len(self._pending)
            self._pending.clear()
        self._last_commit = time.monotonic()

    def close(self) -> None:
        """Write what is queued and mark the session as ended."""
        self.commit()
        with self.con:
            self.con.execute("UPDATE sessions SET ended_at = ? WHERE id = ?", (time.time(), self.session_id))
        self.con.close()

    def __enter__(self) -> MoodRecorder:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


@dataclass
class MoodSamples:
    """All samples of a mood database as numpy arrays (probabilities NaN where a model lacks a class)."""

    session_id: np.ndarray
    t: np.ndarray
    tracker_id: np.ndarray  # the vocabulary's name (the database's column is track_id)
    probs: np.ndarray  # (N, len(EMOTIONS))
    sessions: list[dict[str, Any]]

    def __len__(self) -> int:
        return len(self.t)

    @cached_property
    def classes(self) -> tuple[str, ...]:
        """The emotions that have any data."""
        return tuple(e for e, col in zip(EMOTIONS, self.probs.T) if len(col) and not np.all(np.isnan(col)))

    def valence_arousal(self) -> np.ndarray:
        """(N, 2) probability-weighted circumplex coordinates."""
        coords = np.array([VALENCE_AROUSAL[e] for e in EMOTIONS])
        p = np.nan_to_num(self.probs)
        return p @ coords / np.maximum(p.sum(1, keepdims=True), 1e-9)

    def to_dataframe(self):
        """A pandas DataFrame, one row per sample (needs pandas).

        Example:
            >>> load_samples("mood.db").to_dataframe().groupby("session_id").mean()  # doctest: +SKIP
        """
        try:
            import pandas as pd
        except ModuleNotFoundError:
            raise DataError("to_dataframe needs pandas: pip install pandas") from None
        va = self.valence_arousal()
        df = pd.DataFrame(
            {"session_id": self.session_id, "time": pd.to_datetime(self.t, unit="s"), "tracker_id": self.tracker_id}
        )
        for i, e in enumerate(EMOTIONS):
            if e in self.classes:
                df[e] = self.probs[:, i]
        df["valence"], df["arousal"] = va[:, 0], va[:, 1]
        return df


def load_samples(db_path: str | Path, session: int | None = None) -> MoodSamples:
    """Read a mood database (read-only), optionally one session.

    Example:
        >>> s = load_samples("mood.db")  # doctest: +SKIP
        >>> len(s), s.classes  # doctest: +SKIP
    """
    path = Path(db_path)
    if not path.is_file():
        raise DataError(f"{path}: mood database not found")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: an empty file, not a mood log yet (ferlite mood record writes one)")
    _check_database(path)
    con = _read_only(path)
    try:
        con.row_factory = sqlite3.Row
        sessions = [dict(r) for r in con.execute("SELECT * FROM sessions ORDER BY id")]
        where, params = ("WHERE session_id = ?", (session,)) if session is not None else ("", ())
        rows = con.execute(
            f"SELECT session_id, t, track_id, {', '.join(PROB_COLUMNS)} FROM samples {where} ORDER BY session_id, t", params
        ).fetchall()
    finally:
        con.close()
    if session is not None:
        sessions = [s for s in sessions if s["id"] == session]
        if not sessions:
            raise DataError(f"{path}: no session {session}")
    arr = np.array([tuple(r) for r in rows], dtype=np.float64).reshape(-1, 3 + len(EMOTIONS))
    return MoodSamples(arr[:, 0].astype(np.int64), arr[:, 1], arr[:, 2].astype(np.int64), arr[:, 3:], sessions)


def _summary_row(s: MoodSamples, va: np.ndarray, mask: np.ndarray) -> dict[str, Any]:
    p = np.nan_to_num(s.probs[mask])
    mean = p.mean(0) if len(p) else np.zeros(len(EMOTIONS))
    va = va[mask]
    t = s.t[mask]
    row = {
        "samples": int(mask.sum()),
        "tracks": int(len(np.unique(s.tracker_id[mask]))),
        "start": datetime.fromtimestamp(t.min()).isoformat(timespec="seconds") if len(t) else "",
        "minutes": round(float(t.max() - t.min()) / 60, 2) if len(t) else 0.0,
        "dominant": EMOTIONS[int(np.argmax(mean))] if len(p) else "",
        "valence": round(float(va[:, 0].mean()), 3) if len(p) else 0.0,
        "arousal": round(float(va[:, 1].mean()), 3) if len(p) else 0.0,
    }
    row.update({e: round(float(mean[i]), 3) for i, e in enumerate(EMOTIONS) if e in s.classes})
    return row


def summarize(s: MoodSamples) -> dict[str, list[dict[str, Any]]]:
    """Per-session and per-day summaries: samples, tracks, dominant emotion, mean probabilities, valence, arousal.

    Example:
        >>> summarize(load_samples("mood.db"))["per_day"][0]["dominant"]  # doctest: +SKIP
        'happy'
    """
    va = s.valence_arousal()
    per_session = [
        {"session": sess["id"], "source": sess["source"], **_summary_row(s, va, s.session_id == sess["id"])}
        for sess in s.sessions
    ]
    days = np.array([datetime.fromtimestamp(t).date().isoformat() for t in s.t]) if len(s) else np.array([])
    per_day = [{"day": d, **_summary_row(s, va, days == d)} for d in sorted(set(days.tolist()))]
    return {"per_session": per_session, "per_day": per_day}


def smooth(t: np.ndarray, values: np.ndarray, window_s: float) -> np.ndarray:
    """Centred moving average over ``window_s`` seconds of irregular samples (rows of ``values``)."""
    out = np.empty_like(values)
    lo = np.searchsorted(t, t - window_s / 2, side="left")
    hi = np.searchsorted(t, t + window_s / 2, side="right")
    csum = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(values, axis=0)])
    out[:] = (csum[hi] - csum[lo]) / (hi - lo)[:, None]
    return out


def export_csv(s: MoodSamples, path: str | Path) -> Path:
    """One row per sample: session, ISO time, track, the probabilities, valence and arousal."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    classes = s.classes
    cols = [EMOTIONS.index(c) for c in classes]
    va = s.valence_arousal()
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["session_id", "time", "tracker_id", *classes, "valence", "arousal"])
        for i in range(len(s)):
            w.writerow(
                [
                    s.session_id[i],
                    datetime.fromtimestamp(s.t[i]).isoformat(timespec="milliseconds"),
                    s.tracker_id[i],
                    *(round(float(s.probs[i, c]), 5) for c in cols),
                    round(float(va[i, 0]), 4),
                    round(float(va[i, 1]), 4),
                ]
            )
    return path


def plot_report(s: MoodSamples, smooth_s: float = 10.0):
    """A matplotlib figure: smoothed probabilities over time, the distribution, valence/arousal over time."""
    plt = pyplot("apps")

    from ..runtime.annotate import EMOTION_COLORS

    classes = s.classes
    order = np.argsort(s.t, kind="stable")
    t, probs = s.t[order], np.nan_to_num(s.probs[order])
    minutes = (t - t[0]) / 60 if len(t) else t
    fig, axes = plt.subplots(3, 1, figsize=(10, 10), gridspec_kw={"height_ratios": [3, 2, 2]})
    ax = axes[0]
    sm = smooth(t, probs, smooth_s) if len(t) else probs
    rgb = {e: tuple(c / 255 for c in EMOTION_COLORS[e][::-1]) for e in EMOTIONS}
    for e in classes:
        ax.plot(minutes, sm[:, EMOTIONS.index(e)], label=e, color=rgb[e], lw=2)
    ax.set(
        title=f"Emotion probabilities over time ({smooth_s:g} s moving average, all tracks)",
        xlabel="minutes from the first sample",
        ylabel="probability",
        ylim=(0, 1),
    )
    ax.legend(loc="upper right", ncol=4, fontsize=9)
    ax = axes[1]
    mean = probs.mean(0) if len(probs) else np.zeros(len(EMOTIONS))
    ax.bar(classes, [mean[EMOTIONS.index(e)] for e in classes], color=[rgb[e] for e in classes], edgecolor="black")
    ax.set(title="Distribution over the period (mean probability)", ylabel="mean probability")
    ax = axes[2]
    va = smooth(t, s.valence_arousal()[order], smooth_s) if len(t) else np.zeros((0, 2))
    ax.plot(minutes, va[:, 0], label="valence (unpleasant - pleasant)", color="tab:green", lw=2)
    ax.plot(minutes, va[:, 1], label="arousal (calm - excited)", color="tab:red", lw=2)
    ax.axhline(0, color="gray", lw=0.8)
    ax.set(
        title="Valence / arousal proxy (circumplex coordinates weighted by probability)",
        xlabel="minutes from the first sample",
        ylim=(-1, 1),
    )
    ax.legend(loc="lower right", fontsize=9)
    fig.tight_layout()
    return fig


def _html_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No samples.</p>"
    head = "".join(f"<th>{html.escape(str(k))}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in r.values()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(db_path: str | Path, out_dir: str | Path, session: int | None = None, smooth_s: float = 10.0) -> dict[str, Path]:
    """Write ``mood.png``, a self-contained ``mood.html`` (the plot inlined), ``samples.csv`` and ``summary.json``.

    Example:
        >>> paths = write_report("mood.db", "runs/mood_report")  # doctest: +SKIP
        >>> paths["html"]  # doctest: +SKIP
        PosixPath('runs/mood_report/mood.html')
    """
    s = load_samples(db_path, session)
    if len(s) == 0:
        raise DataError(f"{db_path}: no samples to report" + (f" in session {session}" if session is not None else ""))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary = summarize(s)
    fig = plot_report(s, smooth_s)
    png = out / "mood.png"
    fig.savefig(png, dpi=100)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    pyplot("apps").close(fig)
    image = base64.b64encode(buf.getvalue()).decode("ascii")
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ferlite mood report</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:2em;color:#111;background:#fff}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #555;padding:4px 8px;text-align:right}}
th{{background:#eee}}img{{max-width:100%}}</style></head><body>
<h1>Mood report</h1>
<p>{html.escape(str(db_path))}: {len(s)} samples, {len(s.sessions)} session(s), classes {html.escape(", ".join(s.classes))}.
Probabilities come from ferlite's emotion classifier; valence and arousal are a coarse proxy derived from them,
not a measurement.</p>
<img alt="Emotion probabilities over time, their distribution, and the valence/arousal proxy" src="data:image/png;base64,{image}">
<h2>Per session</h2>{_html_table(summary["per_session"])}
<h2>Per day</h2>{_html_table(summary["per_day"])}
</body></html>
"""
    page_path = out / "mood.html"
    page_path.write_text(page)
    csv_path = export_csv(s, out / "samples.csv")
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(summary, indent=2))
    return {"png": png, "html": page_path, "csv": csv_path, "summary": summary_path}
