"""Score a mixture's training faces once, each source by its own teacher, for offline distillation
(``ferlite train --teacher-targets OUT``; see :mod:`ferlite.training.teacher_targets`).

    python tools/teacher_targets.py runs/teacher_targets_mixture8.npz --mixture ferplus:1,rafdb:1,affectnet:1 \\
        --teacher ferplus=models/ferplus8_224_full.int8.onnx \\
        --teacher rafdb,affectnet=src/ferlite/assets/emotion_accurate.int8.onnx
"""

from __future__ import annotations

import argparse

from ferlite.core.taxonomy import PRESETS, parse_classes
from ferlite.data.mixture import build_mixture, parse_mixture
from ferlite.training.teacher_targets import parse_source_teachers, teacher_probabilities, write_teacher_targets


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("out", help="the .npz file to write")
    p.add_argument("--mixture", required=True, help="the sources (their weights do not matter here)")
    p.add_argument(
        "--teacher", action="append", required=True, metavar="SOURCES=MODEL", help="an int8 ONNX teacher for those sources"
    )
    p.add_argument("--classes", default="ferplus8")
    p.add_argument("--temperature", type=float, default=1.0, help="divides the teachers' logits")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    teachers = parse_source_teachers(args.teacher)
    # Colour faces stay in colour: a colour teacher needs them, and a gray one makes them gray as the reader would.
    classes = parse_classes(args.classes) or PRESETS["ferplus8"]
    mixed = build_mixture(parse_mixture(args.mixture), "train", classes, color=True)
    probs = teacher_probabilities(mixed, teachers, args.threads, args.temperature)
    note = f"teachers {teachers}, temperature {args.temperature}"
    write_teacher_targets(args.out, mixed.data.ids, probs, mixed.data.classes, note)
    print(f"wrote {args.out}: {len(probs)} faces, {note}")


if __name__ == "__main__":
    main()
