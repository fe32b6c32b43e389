"""``ferlite mood record SOURCE`` and ``ferlite mood report DB``: mood monitoring over time."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from ..apps.mood import MoodRecorder, write_report
from ..core.options import non_negative_int
from ..runtime import FrameSource, process_video
from ._common import add_runtime_args, build_recognizer


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite mood",
        description="Mood monitoring over time. 'record' appends per-track emotion probabilities to a SQLite "
        "database (numbers only, never images); 'report' turns it into plots, summaries, HTML and CSV.",
        add_help=add_help,
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    r = sub.add_parser(
        "record",
        help="watch a video, webcam or stream and log emotions to a database",
        description="Log per-track emotion probabilities, sampled at --rate per second, to a SQLite "
        "database (WAL mode, committed every second: a crash or Ctrl-C loses at most the last second).",
    )
    r.add_argument("source", help="video file, webcam index (e.g. 0) or stream URL")
    r.add_argument("--db", default="mood.db", help="SQLite database to append to (created when missing; default mood.db)")
    r.add_argument("--rate", type=float, default=1.0, help="samples per second per tracked face (default 1)")
    r.add_argument("--max-frames", type=non_negative_int, default=None, help="stop after this many frames")
    add_runtime_args(r)
    q = sub.add_parser(
        "report",
        help="plots, per-session and per-day summaries, HTML and CSV from a database",
        description="Write mood.png, a self-contained mood.html, samples.csv and summary.json.",
    )
    q.add_argument("db", help="a database written by 'ferlite mood record'")
    q.add_argument("--out", default="mood_report", help="output folder (default mood_report)")
    q.add_argument("--session", type=int, default=None, help="only this session (default: all)")
    q.add_argument("--smooth", type=float, default=10.0, help="moving-average window of the timeline, seconds (default 10)")
    return p


def _record(args: argparse.Namespace) -> int:
    if args.rate <= 0:
        print("ferlite mood record: --rate must be positive", file=sys.stderr)
        return 2
    rec = build_recognizer(args)
    source = FrameSource(args.source)
    # A SIGTERM (service stop) ends the session like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    wall_start = time.time()
    stream = rec.new_stream()
    with MoodRecorder(
        args.db, source=args.source, labels=rec.labels, model=str(rec.classifier.model_path.name), sample_every=1.0 / args.rate
    ) as log:

        def on_frame(frame, index, faces) -> None:
            # Unix time: the run's start plus the file's own clock, or plus wall-clock seconds for live sources.
            log.add(wall_start + source.time_of(index), faces)

        frames = process_video(source, on_frame, max_frames=args.max_frames, pipeline=stream)
    print(
        f"ferlite mood record: {frames} frames, {log.rows} samples in session {log.session_id} of {args.db}; "
        f"{source.skipped} corrupt frames skipped",
        file=sys.stderr,
    )
    return 0 if frames else 1


def main(args: argparse.Namespace) -> int:
    if args.action == "record":
        return _record(args)
    paths = write_report(args.db, args.out, args.session, args.smooth)
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return 0
