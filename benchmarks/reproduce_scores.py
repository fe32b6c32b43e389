"""Results of record, reproduced from their files: the bundled `fer2013` model (FER2013's 7 classes) and
models/ref5_224.int8.onnx (the study's 5 classes), each with the ten-view TTA PublicTest chose for it, and the bundled
`accurate` ensemble on FERPlus PublicTest (8 classes, one view).

    python benchmarks/reproduce_scores.py              # a fixed, seeded 600-face subset of PublicTest (about 1 min)
    python benchmarks/reproduce_scores.py --whole      # the whole split (about 7 min on 2 cores)
    python benchmarks/reproduce_scores.py accurate     # one of them

Prints each accuracy beside the recorded one and exits 1 when one is more than 1.5 points away. These ran in the test
suite until release 0.2.0; they measure published numbers rather than check behaviour, and took 92 s of it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferlite.core.taxonomy import PRESETS
from ferlite.data import load_dataset
from ferlite.evaluation.evaluate import onnx_metrics
from ferlite.runtime import EmotionClassifier, resolve_model_path

ROOT = Path(__file__).resolve().parents[1]
# name: (model, dataset, classes, views, recorded accuracy on the 600-face subset, on the whole PublicTest)
RECORDED = {
    "fer2013": (resolve_model_path("fer2013"), "fer2013", None, "shift-flip", 0.7267, 0.725),
    "ref5_224": (ROOT / "models" / "ref5_224.int8.onnx", "fer2013", PRESETS["ref5"], "shift-flip", 0.7917, 0.788),
    "accurate": (resolve_model_path("accurate"), "ferplus", None, "none", 0.8150, 0.807),
}
TOLERANCE = 0.015


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="NAME", help=f"only these results, of {', '.join(RECORDED)} (default: all)")
    p.add_argument("--whole", action="store_true", help="the whole PublicTest split, not the 600-face subset")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    unknown = [name for name in args.names if name not in RECORDED]
    if unknown:
        p.error(f"no recorded result named {', '.join(unknown)}; choose from {', '.join(RECORDED)}")
    off = 0
    for name, (model, dataset, classes, views, on_subset, on_whole) in RECORDED.items():
        if args.names and name not in args.names:
            continue
        faces = load_dataset(dataset, "val", classes=classes)
        if not args.whole:
            faces = faces.sample(600, seed=0)
        accuracy = onnx_metrics(EmotionClassifier(model, threads=args.threads, tta=views), faces)["accuracy"]
        recorded = on_whole if args.whole else on_subset
        ok = abs(accuracy - recorded) <= TOLERANCE
        off += not ok
        print(
            f"{name}: {accuracy:.4f} on {len(faces)} {dataset} PublicTest faces, views {views}; recorded {recorded:.4f}: {'ok' if ok else 'OFF'}"
        )
    return 1 if off else 0


if __name__ == "__main__":
    sys.exit(main())
