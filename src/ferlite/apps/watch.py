"""Watching a video file, camera or stream: the work behind ``ferlite watch``.

Each frame's faces are tracked and smoothed, then recorded (JSONL or CSV), spoken, drawn on the output video and
the live window, and corrected by the viewer where corrections are on. Corrupt frames are skipped and counted by the
frame source, never a crash mid-stream.

Example:
    >>> from ferlite.runtime import Recognizer
    >>> summary = watch(Recognizer(), "clip.mp4", WatchOptions(output="out.mp4", records="out.csv"))  # doctest: +SKIP
    >>> summary.tally.shares_text()  # doctest: +SKIP
    'happy 61%, neutral 30%, ...'
"""

from __future__ import annotations

import csv
import json
import os
import queue
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..core.errors import UsageError, stderr_reporter
from ..runtime import (
    CaptionAnnotator,
    Faces,
    FPSAnnotator,
    FPSMonitor,
    FrameSource,
    LabelTally,
    Recognizer,
    ScoreSmoother,
    StopVideo,
    annotate_faces,
    process_video,
)
from ..runtime.personalize import StreamPersonalization
from .analyze import face_rows, table_columns


class RecordWriter:
    """Per-frame records as JSON lines (a line per frame, its faces as :meth:`Faces.to_dicts` gives them) or CSV (the
    ``analyze`` table of the video: a row per face per frame); a frame without a face is kept (an empty ``faces``
    list, or a row with empty face cells), and every record names the model."""

    def __init__(self, path: str | Path, labels: tuple[str, ...], model: str = "", source: str = "") -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in (".csv", ".jsonl"):
            raise UsageError(f"{self.path}: --records must be .csv or .jsonl")
        self.labels, self.model, self.source = labels, model, source
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._f = open(self.path, "w", newline="")  # noqa: SIM115 (closed by close())
        self._csv = None
        if self.path.suffix.lower() == ".csv":
            from .. import __version__

            self._meta = {"model": model, "ferlite_version": __version__}
            self._csv = csv.DictWriter(self._f, fieldnames=table_columns(labels))
            self._csv.writeheader()

    def write(self, frame_index: int, time_s: float, faces: Faces) -> None:
        if self._csv is None:
            record = {"frame": frame_index, "time_s": round(time_s, 3), "faces": faces.to_dicts(), "model": self.model}
            self._f.write(json.dumps(record) + "\n")
            return
        for row in face_rows(self.source, frame_index, time_s, faces, self.labels, self._meta):
            self._csv.writerow({k: "" if v is None else v for k, v in row.items()})

    def close(self) -> None:
        self._f.close()


def display_available() -> bool:
    """Whether a live window can open: a display, and an OpenCV with a GUI backend (the headless wheel has none)."""
    import cv2

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:
        cv2.namedWindow("ferlite")
        return True
    except cv2.error:
        return False


def terminal_lines() -> queue.Queue:
    """Lines typed on the terminal (or piped in), read by a background thread so that frames never wait for them."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                lines.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    return lines


say_on_stderr = stderr_reporter("watch")


@dataclass
class WatchOptions:
    """What to do with each frame's faces (the options of ``ferlite watch``).

    Attributes:
        output: annotated video to write (its codec follows the extension; see :class:`~ferlite.runtime.VideoSink`).
        records: per-frame records, ``.jsonl`` or ``.csv``.
        show: the live window: ``auto`` (when a display exists), ``yes`` or ``no``.
        max_frames: stop after this many frames.
        smoothing: weight of the newest frame in each track's moving average.
        fps_overlay: burn the FPS counter into the output video too.
        captions: large high-contrast captions of each person's emotion.
        speak: spoken cues when a person's emotion changes, at most one per ``speak_interval`` seconds.
        speak_to: write the spoken cues as WAV files to this folder instead of the speakers.
        corrections: the viewer corrects the largest face (keys 1-8 in the window, or a class and Enter on the terminal).
        save_personalization: where to save what the corrections taught (an ``.npz``).
    """

    output: str | None = None
    records: str | None = None
    show: str = "auto"
    max_frames: int | None = None
    smoothing: float = 0.3
    fps_overlay: bool = False
    captions: bool = False
    speak: bool = False
    speak_interval: float = 4.0
    speak_to: str | None = None
    corrections: bool = False
    save_personalization: str | None = None


@dataclass
class WatchSummary:
    frames: int
    skipped: int
    fps: float
    tally: LabelTally


class _Watcher:
    """One run's state: the per-frame callback of :func:`process_video` and what it writes to."""

    def __init__(self, recognizer: Recognizer, source: FrameSource, options: WatchOptions, say: Callable[[str], None]):
        self.rec, self.source, self.options, self.say = recognizer, source, options, say
        self.show = options.show != "no" and display_available()
        if options.show == "yes" and not self.show:
            say("no display (or a headless OpenCV); running without a window")
        if options.save_personalization and not options.corrections:
            raise UsageError("--save-personalization needs --corrections")
        model = recognizer.classifier.model_path.name
        self.records = RecordWriter(options.records, recognizer.labels, model, str(source.source)) if options.records else None
        self.fps, self.fps_draw, self.tally = FPSMonitor(), FPSAnnotator(), LabelTally()
        self.captions = CaptionAnnotator() if options.captions else None
        self.cues = None
        if options.speak or options.speak_to:
            from .speech import SpokenCues

            self.cues = SpokenCues(min_interval=options.speak_interval, wav_dir=options.speak_to)
        self.personal = StreamPersonalization(recognizer) if options.corrections else None
        self.typed = terminal_lines() if options.corrections else None
        if self.personal:
            recognizer.classifier.check_embedding()
            keys = ", ".join(f"{k + 1} {c}" for k, c in enumerate(recognizer.labels))
            say(f"corrections on: {keys} (keys in the window, or a name or number and Enter here)")

    def correct(self, label: str) -> None:
        assert self.personal is not None
        reply = self.personal.correct(label)
        if reply["type"] == "error":
            self.say(f"correction {label!r}: {reply['message']}")
        else:
            state = "in use" if reply["active"] else "in use once it knows two classes"
            self.say(f"learned {reply['label']} ({reply['examples']} corrections; the personal head {state})")

    def on_frame(self, frame: np.ndarray, index: int, faces: Faces) -> np.ndarray | None:
        if self.personal:
            faces = self.personal.apply(frame, faces)
            while self.typed is not None and not self.typed.empty():
                self.correct(self.typed.get())
        self.fps.tick()
        # One clock for records and cues: the file's own for videos, the wall clock for cameras and streams.
        t = self.source.time_of(index)
        self.tally.update(t, faces)
        if self.records:
            self.records.write(index, t, faces)
        if self.cues and (said := self.cues.update(faces, t)):
            self.say(f"said {said!r}")
        if not (self.options.output or self.show):
            return None
        scene = annotate_faces(frame, faces)
        if self.captions:
            scene = self.captions.annotate(scene, faces)
        if self.options.fps_overlay:
            scene = self.fps_draw.annotate(scene, self.fps.fps)
        if self.show:
            self.show_live(scene)
        return scene

    def show_live(self, scene: np.ndarray) -> None:
        """The live window, which always shows the frame rate; q or Esc stops, 1-8 correct."""
        import cv2

        cv2.imshow("ferlite", scene if self.options.fps_overlay else self.fps_draw.annotate(scene.copy(), self.fps.fps))
        key = cv2.waitKey(1) & 0xFF
        if key in (ord("q"), 27):
            raise StopVideo
        if self.personal and ord("1") <= key < ord("1") + len(self.rec.labels):
            self.correct(self.rec.labels[key - ord("1")])

    def close(self) -> None:
        if self.records:
            self.records.close()
        if self.show:
            import cv2

            cv2.destroyAllWindows()
        if self.cues:
            self.cues.close()

    def save_personalization(self, path: str) -> None:
        head = self.personal.head if self.personal else None
        if head is None or head.weight is None:
            self.say("nothing to save: the personal head needs corrections of two classes")
        else:
            self.say(f"personalization saved to {head.save(path)}")


def watch(
    recognizer: Recognizer,
    source: str | int | Path | FrameSource,
    options: WatchOptions | None = None,
    say: Callable[[str], None] = say_on_stderr,
) -> WatchSummary:
    """Track, smooth and record the faces of every frame of ``source`` as ``options`` asks; ``say`` gets what the
    viewer should read (corrections learnt, cues spoken). Stops at the end, after ``max_frames``, or on q, Esc or
    Ctrl-C."""
    options = options or WatchOptions()
    frames = source if isinstance(source, FrameSource) else FrameSource(source)
    watcher = _Watcher(recognizer, frames, options, say)
    stream = recognizer.new_stream(smoother=ScoreSmoother(options.smoothing))
    try:
        count = process_video(frames, watcher.on_frame, sink=options.output, max_frames=options.max_frames, pipeline=stream)
    finally:
        watcher.close()
    if options.save_personalization:
        watcher.save_personalization(options.save_personalization)
    return WatchSummary(frames=count, skipped=frames.skipped, fps=watcher.fps.fps, tally=watcher.tally)
