"""Where a video frame's time goes: the runtime's pipeline under cProfile, a box from detection on every frame.

The frames are decoded beforehand, so that only the pipeline is profiled (decoding runs on its own thread in
``FrameSource`` and costs about 1 ms a 640x480 frame here). Prints the frame rate and the functions that take the most
of it, as shares of the whole.

    python benchmarks/frame_profile.py [--video PATH] [--detect-every 1] [--threads N] [--top 12]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time


def main() -> None:
    from ferlite.core.paths import find_shared
    from ferlite.runtime import FrameSource, Recognizer

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default=None, help="default: the shared one-face clip")
    p.add_argument("--detect-every", type=int, default=1)
    p.add_argument("--threads", type=int, default=None, help="the classifier's threads (default: the runtime's)")
    p.add_argument("--top", type=int, default=12)
    args = p.parse_args()
    video = args.video or find_shared("media/face1_emotions_pexels_640x480.mp4")
    rec = Recognizer(threads=args.threads, detect_every=args.detect_every)
    frames = [frame for _, frame in FrameSource(video)]
    stream = rec.new_stream()
    for frame in frames[:10]:  # warm-up: sessions, YuNet's networks per input size
        stream.update(frame)
    stream.reset()
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.enable()
    for frame in frames:
        stream.update(frame)
    profile.disable()
    seconds = time.perf_counter() - start
    print(f"{len(frames)} frames of {video}: {len(frames) / seconds:.1f} FPS, {1000 * seconds / len(frames):.2f} ms a frame")
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = sum(own for _, _, own, _, _ in stats.values())
    rows = sorted(
        ((own, f"{path.rsplit('/', 1)[-1]}:{line}({name})") for (path, line, name), (_, _, own, _, _) in stats.items()),
        reverse=True,
    )
    print("| share of the profiled time | ms a frame | function |\n|---|---|---|")
    for own, where in rows[: args.top]:
        print(f"| {100 * own / total:.1f}% | {1000 * own / len(frames):.2f} | {where} |")


if __name__ == "__main__":
    main()
