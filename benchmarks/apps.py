"""Frames per second of the applications on a real 640x480 clip (decode included, no video writing).

    python benchmarks/apps.py [--video CLIP] [--threads 1]

Prints one line per application: ``drive`` (YuNet + eye-state CNN + head pose + alarms) and
``mood`` (the full Recognizer pipeline + SQLite logging at 1 sample/s). Speeds vary by about
30% between runs on shared VMs; run on a quiet machine.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from ferlite.apps.drive import DriverMonitor
from ferlite.apps.mood import MoodRecorder
from ferlite.core.paths import find_shared
from ferlite.core.system import machine_summary
from ferlite.runtime import FrameSource, Recognizer


def _frames(video: Path) -> list:
    return [frame for _, frame in FrameSource(video)]


def bench_drive(frames: list, fps: float, threads: int) -> float:
    monitor = DriverMonitor(threads=threads)
    start = time.perf_counter()
    for i, frame in enumerate(frames):
        monitor.update(frame, i / fps)
    return len(frames) / (time.perf_counter() - start)


def bench_mood(frames: list, fps: float, threads: int) -> float:
    rec = Recognizer(threads=threads)
    with tempfile.TemporaryDirectory() as tmp, MoodRecorder(Path(tmp) / "mood.db", "bench", rec.labels) as log:
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            log.add(i / fps, rec.update(frame))
        return len(frames) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--video", default=None, help="default: the shared one-face 640x480 clip")
    p.add_argument("--threads", type=int, default=1, help="ONNX Runtime threads (default 1)")
    args = p.parse_args()
    video = Path(args.video) if args.video else find_shared("media/face1_emotions_pexels_640x480.mp4")
    fps = FrameSource(video).info.fps
    frames = _frames(video)  # decoded once, so that only the application is timed
    m = machine_summary()
    print(
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}; {args.threads} ONNX Runtime thread(s); {video.name}, {len(frames)} frames"
    )
    for name, fn in (("drive", bench_drive), ("mood", bench_mood)):
        fn(frames[:30], fps, args.threads)  # warm-up
        print(f"{name}: {fn(frames, fps, args.threads):.1f} frames/s")


if __name__ == "__main__":
    main()
