"""YuNet on OpenCV's ``cv2.FaceDetectorYN`` against YuNet on ONNX Runtime (``YuNetOnOnnxRuntime``): the cost of one
detection at the video pipeline's input sizes (one thread each, since the pipeline gives the other core to the
emotion model), and whether both find the same faces on frames of the three shared clips.

    python benchmarks/yunet_engines.py [--calls 300]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from itertools import islice

import cv2
import numpy as np

from ferlite.core.paths import find_shared
from ferlite.core.system import cpu_model
from ferlite.runtime import FrameSource
from ferlite.runtime.detector import YuNetDetector

CLIPS = ("face1_emotions_pexels_640x480.mp4", "faces_multi_hikers_ccby_640x480.mp4", "faces_multi_event_ccby_640x480.mp4")
# (detection size, pad_to_grid): a region around a tracked face, and the whole frame of a video
SIZES = ((128, True), (320, False))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=300)
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    cv2.setNumThreads(1)  # OpenCV's pool is process-wide; ONNX Runtime's session has one thread
    engines = {name: YuNetDetector(score_threshold=0.4, backend=name) for name in ("opencv", "onnxruntime")}
    frames = [f for clip in CLIPS for _, f in islice(FrameSource(find_shared(f"media/{clip}")), 0, 210, 7)]
    same, checks, worst = 0, 0, 0.0
    for frame in frames:
        for side, pad in SIZES:
            a, b = (engines[n].detect(frame, max_side=side, pad_to_grid=pad) for n in ("opencv", "onnxruntime"))
            checks += 1
            if len(a) == len(b):
                same += 1
                if len(a):
                    worst = max(worst, float(np.abs(a.xyxy - b.xyxy).max()), float(np.abs(a.landmarks - b.landmarks).max()))
    print(f"{cpu_model()}, {os.cpu_count()} cores; {len(frames)} frames of {', '.join(CLIPS)}")
    print(f"same number of faces in {same} of {checks} detections; largest box or landmark difference {worst:.5f} px")
    print("| input | OpenCV ms | ONNX Runtime ms | ratio (per round) |\n|---|---|---|---|")
    for side, pad in SIZES:
        times: dict[str, list[float]] = {"opencv": [], "onnxruntime": []}
        for _ in range(args.rounds):
            for name, det in engines.items():
                for frame in frames[:10]:
                    det.detect(frame, max_side=side, pad_to_grid=pad)
                start = time.perf_counter()
                for k in range(args.calls):
                    det.detect(frames[k % len(frames)], max_side=side, pad_to_grid=pad)
                times[name].append(1000 * (time.perf_counter() - start) / args.calls)
        ratios = [a / b for a, b in zip(times["opencv"], times["onnxruntime"])]
        print(
            f"| {side} px{' (regions)' if pad else ' (whole frame)'} | {statistics.median(times['opencv']):.2f} | "
            f"{statistics.median(times['onnxruntime']):.2f} | {statistics.median(ratios):.2f}x "
            f"({', '.join(f'{r:.2f}' for r in ratios)}) |"
        )


if __name__ == "__main__":
    main()
