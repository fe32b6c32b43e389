"""ONNX Runtime's ``session.x64quantprecision`` (set by ``runtime.engines.onnxruntime_options``), with and without:
the bundled default's scores against OpenCV's DNN module on the one-face clip, and the classifier's time at batch 1,
in paired rounds in one process. On x86 CPUs without VNNI the option removes the int8 sums' saturation; elsewhere it
changes nothing.

    python benchmarks/int8_precision.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
from itertools import islice

import numpy as np

from ferlite.core.paths import find_shared
from ferlite.runtime import FrameSource, Recognizer, engines, resolve_model_path
from ferlite.runtime import classifier as classifier_module
from ferlite.runtime.classifier import EmotionClassifier, time_inference


def without_the_option(threads):
    options = engines.onnxruntime_options(threads)
    options.add_session_config_entry("session.x64quantprecision", "0")  # ONNX Runtime warns that it overwrites it
    return options


@contextlib.contextmanager
def session_options(make_options):
    """Emotion models built inside get their ONNX Runtime options from ``make_options``."""
    classifier_module.onnxruntime_options = make_options  # the classifier's own reference to the function
    try:
        yield
    finally:
        classifier_module.onnxruntime_options = engines.onnxruntime_options


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    opencv = Recognizer(threads=1, backend="opencv")
    frames = [f for _, f in islice(FrameSource(find_shared("media/face1_emotions_pexels_640x480.mp4")), 0, 470, 10)]
    for name, options in (("without", without_the_option), ("with", engines.onnxruntime_options)):
        with session_options(options):
            rec = Recognizer(threads=1)
        gaps, same_label = [], []
        for frame in frames:
            a, b = rec.predict(frame), opencv.predict(frame)
            if len(a) and len(b):
                gaps.append(float(np.abs(a.scores[0] - b.scores[0]).max()))
                same_label.append(a.label[0] == b.label[0])
        print(
            f"{name} session.x64quantprecision: {len(gaps)} faces, score gap to OpenCV mean {np.mean(gaps):.3f}, "
            f"max {max(gaps):.3f}; same top label {np.mean(same_label):.1%}"
        )
    model = resolve_model_path(None)
    with session_options(without_the_option):
        plain = EmotionClassifier(model, threads=1)
    precise = EmotionClassifier(model, threads=1)
    ratios = []
    for r in range(args.rounds):
        a = float(np.median(time_inference(plain, 1, 200, warmup=20)))
        b = float(np.median(time_inference(precise, 1, 200, warmup=20)))
        ratios.append(b / a)
        print(f"round {r}: batch 1 without {a * 1000:.3f} ms, with {b * 1000:.3f} ms: {b / a:.2f}x")
    print(f"median {np.median(ratios):.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
