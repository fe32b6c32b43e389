"""``ferlite watch SOURCE``: emotions in a video file, webcam or stream, frame by frame.

Writes an annotated video and per-frame records (JSONL or CSV), shows a live window
when a display is available, and a progress bar with the FPS for files. Corrupt
frames are skipped and counted, never a crash mid-stream. At the end it prints each
label's share of all faces and each second's most frequent label.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import queue
import sys
import threading
from pathlib import Path

import numpy as np

from ..apps.analyze import face_rows, table_columns
from ..core.errors import UsageError
from ..core.options import non_negative_int, unit_interval
from ..runtime import (
    CaptionAnnotator,
    Faces,
    FPSAnnotator,
    FPSMonitor,
    FrameSource,
    LabelTally,
    ScoreSmoother,
    StopVideo,
    annotate_faces,
    process_video,
)
from ..runtime.personalize import StreamPersonalization
from ._common import add_runtime_args, build_recognizer


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite watch",
        description="Recognise emotions in a video file, a webcam index (0) or a stream URL, with stable "
        "track IDs and smoothed labels. Writes an annotated video and per-frame JSONL or CSV, and prints each "
        "label's share of all faces and each second's most frequent label at the end.",
        add_help=add_help,
    )
    p.add_argument("source", help="video file, webcam index (e.g. 0) or stream URL")
    p.add_argument(
        "--output",
        "-o",
        default=None,
        help="annotated video to write, with the input's audio; the codec follows the extension: .mp4 (H.264) and .webm "
        '(VP9), which browsers play, with pip install "ferlite[video]"; else OpenCV\'s MPEG-4 and VP9/VP8, silent; .avi '
        "(Motion JPEG)",
    )
    p.add_argument("--fps-overlay", action="store_true", help="burn the FPS counter into the annotated video too")
    p.add_argument("--records", default=None, help="per-frame records: .jsonl or .csv (one row per face per frame)")
    p.add_argument("--show", choices=("auto", "yes", "no"), default="auto", help="live window (auto: when a display exists)")
    p.add_argument("--max-frames", type=non_negative_int, default=None, help="stop after this many frames")
    p.add_argument(
        "--smoothing", type=unit_interval, default=0.3, help="weight of the newest frame in each track's moving average"
    )
    c = p.add_argument_group("online personalization")
    c.add_argument(
        "--corrections",
        action="store_true",
        help="correct the largest face as it is shown: keys 1-8 in the window, or a class name or number and Enter on "
        "the terminal; the personal head learns each correction at once (ferlite personalize's, without torch)",
    )
    c.add_argument(
        "--save-personalization",
        default=None,
        metavar="NPZ",
        help="with --corrections: save what was learned, for --personalization next time (nothing is kept otherwise)",
    )
    a = p.add_argument_group("accessibility")
    a.add_argument("--captions", action="store_true", help="large high-contrast captions of each person's emotion on the video")
    a.add_argument("--speak", action="store_true", help="spoken cues through espeak-ng when a person's emotion changes")
    a.add_argument("--speak-interval", type=float, default=4.0, help="seconds between two spoken cues (default 4)")
    a.add_argument(
        "--speak-to", default=None, metavar="DIR", help="write the spoken cues as WAV files to DIR instead of the speakers"
    )
    add_runtime_args(p)
    return p


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

    def write(self, frame_index: int, time_s: float, faces) -> None:
        if self._csv is None:
            record = {"frame": frame_index, "time_s": round(time_s, 3), "faces": faces.to_dicts(), "model": self.model}
            self._f.write(json.dumps(record) + "\n")
            return
        for row in face_rows(self.source, frame_index, time_s, faces, self.labels, self._meta):
            self._csv.writerow({k: "" if v is None else v for k, v in row.items()})

    def close(self) -> None:
        self._f.close()


def _display_available() -> bool:
    import cv2

    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return False
    try:  # opencv-python-headless has no GUI backend
        cv2.namedWindow("ferlite")
        return True
    except cv2.error:
        return False


def _terminal_corrections() -> queue.Queue:
    """Lines typed on the terminal (or piped in), read by a background thread so that frames never wait for them."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in sys.stdin:
            if line.strip():
                lines.put(line.strip())

    threading.Thread(target=read, daemon=True).start()
    return lines


def main(args: argparse.Namespace) -> int:
    import cv2

    rec = build_recognizer(args)
    source = FrameSource(args.source)
    show = args.show != "no" and _display_available()
    if args.show == "yes" and not show:
        print("ferlite watch: no display (or a headless OpenCV); running without a window", file=sys.stderr)
    records = RecordWriter(args.records, rec.labels, rec.classifier.model_path.name, str(args.source)) if args.records else None
    fps, fps_draw = FPSMonitor(), FPSAnnotator()
    captions = CaptionAnnotator() if args.captions else None
    cues = None
    if args.speak or args.speak_to:
        from ..apps.speech import SpokenCues

        cues = SpokenCues(min_interval=args.speak_interval, wav_dir=args.speak_to)
    stream, tally = rec.new_stream(smoother=ScoreSmoother(args.smoothing)), LabelTally()
    if args.save_personalization and not args.corrections:
        raise UsageError("--save-personalization needs --corrections")
    personal = StreamPersonalization(rec) if args.corrections else None
    typed = _terminal_corrections() if args.corrections else None
    if personal:
        rec.classifier.check_embedding()
        print(
            "ferlite watch: corrections on: "
            + ", ".join(f"{k + 1} {c}" for k, c in enumerate(rec.labels))
            + " (keys in the window, or a name or number and Enter here)",
            file=sys.stderr,
        )

    def correct(label: str) -> None:
        assert personal is not None
        reply = personal.correct(label)
        if reply["type"] == "error":
            print(f"ferlite watch: correction {label!r}: {reply['message']}", file=sys.stderr)
        else:
            state = "in use" if reply["active"] else "in use once it knows two classes"
            print(
                f"ferlite watch: learned {reply['label']} ({reply['examples']} corrections; the personal head {state})",
                file=sys.stderr,
            )

    def on_frame(index: int, frame: np.ndarray, faces: Faces) -> np.ndarray | None:
        if personal:
            faces = personal.apply(frame, faces)
            while typed is not None and not typed.empty():
                correct(typed.get())
        fps.tick()
        # One clock for records and cues: the file's own for videos, the wall clock for cameras and streams.
        t = source.time_of(index)
        tally.update(t, faces)
        if records:
            records.write(index, t, faces)
        if cues:
            said = cues.update(faces, t)
            if said:
                print(f"ferlite watch: said {said!r}", file=sys.stderr)
        if not (args.output or show):
            return None
        scene = annotate_faces(frame, faces)
        if captions:
            scene = captions.annotate(scene, faces)
        if args.fps_overlay:
            scene = fps_draw.annotate(scene, fps.fps)
        if show:  # the live window always shows the frame rate
            cv2.imshow("ferlite", scene if args.fps_overlay else fps_draw.annotate(scene.copy(), fps.fps))
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                raise StopVideo
            if personal and ord("1") <= key < ord("1") + len(rec.labels):
                correct(rec.labels[key - ord("1")])
        return scene

    try:
        frames = process_video(source, on_frame, sink=args.output, max_frames=args.max_frames, pipeline=stream)
    finally:
        if records:
            records.close()
        if show:
            cv2.destroyAllWindows()
        if cues:
            cues.close()
    if args.save_personalization:
        assert personal is not None
        if personal.head is None or personal.head.weight is None:
            print("ferlite watch: nothing to save: the personal head needs corrections of two classes", file=sys.stderr)
        else:
            print(f"ferlite watch: personalization saved to {personal.head.save(args.save_personalization)}", file=sys.stderr)
    print(
        f"ferlite watch: {frames} frames, {tally.total} faces, {source.skipped} corrupt frames skipped, {fps.fps:.1f} FPS (last 30 frames)",
        file=sys.stderr,
    )
    if frames == 0:
        print(f"ferlite watch: {args.source}: no frame could be decoded", file=sys.stderr)
        return 1
    if tally.total:
        print(f"ferlite watch: labels of all {tally.total} faces: {tally.shares_text()}", file=sys.stderr)
        print(f"ferlite watch: each second's most frequent label: {tally.timeline_text()}", file=sys.stderr)
    return 0
