"""``ferlite watch SOURCE``: emotions in a video file, webcam or stream, frame by frame (:mod:`ferlite.apps.watch`).
At the end it prints each label's share of all faces and each second's most frequent label."""

from __future__ import annotations

import argparse
import dataclasses

from ..apps.watch import WatchOptions, say_on_stderr, watch
from ..core.options import non_negative_int, unit_interval
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


def main(args: argparse.Namespace) -> int:
    options = WatchOptions(**{f.name: getattr(args, f.name) for f in dataclasses.fields(WatchOptions)})
    summary = watch(build_recognizer(args), args.source, options)
    faces = summary.tally.total
    say_on_stderr(
        f"{summary.frames} frames, {faces} faces, {summary.skipped} corrupt frames skipped, {summary.fps:.1f} FPS (last 30 frames)"
    )
    if summary.frames == 0:
        say_on_stderr(f"{args.source}: no frame could be decoded")
        return 1
    if faces:
        say_on_stderr(f"labels of all {faces} faces: {summary.tally.shares_text()}")
        say_on_stderr(f"each second's most frequent label: {summary.tally.timeline_text()}")
    return 0
