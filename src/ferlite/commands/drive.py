"""``ferlite drive SOURCE``: driver drowsiness and distraction monitoring on a video or camera.

A heuristic aid, not a certified safety system (see ferlite.apps.drive).
"""

from __future__ import annotations

import argparse
import sys

from ..apps.drive import DriveConfig, DriverMonitor, monitor_driver
from ..core.options import non_negative_int, positive_int


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    d = DriveConfig()
    p = argparse.ArgumentParser(
        prog="ferlite drive",
        description="Driver monitoring on a video file, webcam index or stream: eye closure per frame (an eye-state "
        "CNN trained on CEW), PERCLOS, microsleeps and head-pose distraction, with hysteresis alarms written as "
        "JSON-lines events and drawn on the video. A heuristic aid, NOT a certified safety system.",
        add_help=add_help,
    )
    p.add_argument("source", help="video file, webcam index (e.g. 0) or stream URL")
    p.add_argument("--output", "-o", default=None, help="annotated video to write (.mp4)")
    p.add_argument("--events", default=None, help="alarm events as JSON lines (default: printed to stdout)")
    p.add_argument("--records", default=None, help="per-frame CSV: eye closure, PERCLOS, yaw, pitch, alarms")
    p.add_argument("--max-frames", type=non_negative_int, default=None, help="stop after this many frames")
    p.add_argument("--eye-model", default=None, help="eye-state ONNX model (default: the bundled one)")
    p.add_argument("--threads", type=positive_int, default=1, help="ONNX Runtime threads for the eye model")
    g = p.add_argument_group("thresholds")
    g.add_argument("--min-face", type=float, default=d.min_face, help="smallest face width in pixels taken as the driver")
    g.add_argument("--closed-threshold", type=float, default=d.closed_threshold, help="closed-eye probability for 'closed'")
    g.add_argument("--perclos-window", type=float, default=d.perclos_window, help="PERCLOS window in seconds")
    g.add_argument("--perclos-on", type=float, default=d.perclos_on, help="drowsy alarm at this PERCLOS or more")
    g.add_argument("--perclos-off", type=float, default=d.perclos_off, help="drowsy alarm clears below this PERCLOS")
    g.add_argument("--microsleep", type=float, default=d.microsleep_s, help="seconds of closed eyes that make a microsleep")
    g.add_argument("--yaw-limit", type=float, default=d.yaw_limit, help="degrees of yaw counted as looking away")
    g.add_argument("--pitch-limit", type=float, default=d.pitch_limit, help="degrees of pitch counted as looking away")
    g.add_argument(
        "--distraction", type=float, default=d.distraction_s, help="seconds of looking away (or no face) before the alarm"
    )
    return p


def main(args: argparse.Namespace) -> int:
    config = DriveConfig(
        min_face=args.min_face,
        closed_threshold=args.closed_threshold,
        perclos_window=args.perclos_window,
        perclos_on=args.perclos_on,
        perclos_off=args.perclos_off,
        microsleep_s=args.microsleep,
        yaw_limit=args.yaw_limit,
        pitch_limit=args.pitch_limit,
        distraction_s=args.distraction,
    )
    monitor = DriverMonitor(eye_model=args.eye_model, config=config, threads=args.threads)
    run = monitor_driver(monitor, args.source, args.events, args.records, args.output, args.max_frames)
    print(
        f"ferlite drive: {run.frames} frames, {run.events} events, {run.skipped} corrupt frames skipped, {run.fps:.1f} FPS",
        file=sys.stderr,
    )
    if run.frames == 0:
        print(f"ferlite drive: {args.source}: no frame could be decoded", file=sys.stderr)
        return 1
    return 0
