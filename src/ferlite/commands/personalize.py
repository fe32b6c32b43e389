"""``ferlite personalize``: fit a personal head from DIR/<class>/*.png of one person or camera, beside the model."""

from __future__ import annotations

import argparse
import json

import numpy as np

from ..core.options import add_data_args, positive_int
from ..core.paths import output_folder
from ..runtime import EmotionClassifier, fit_personalization, preprocess_faces, resolve_model_path
from ..runtime.personalize import holdout_split, read_labelled_faces


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite personalize",
        description="On-device personalization: from a few face crops of one person or camera per class "
        "(FACES/<class>/*.png, classes named as the model's), fit a small head on the model's face embeddings and "
        "blend it with the shipped head. Writes OUT/personalization.npz for Recognizer(personalization=...) and "
        "--personalization; with --holdout, first reports the accuracy on held-out faces before and after.",
        add_help=add_help,
    )
    p.add_argument("--model", default="default", help="a bundled model's name or an .onnx from ferlite export (default: default)")
    p.add_argument("--faces", required=True, help="folder of class folders of face crops")
    p.add_argument("--out", required=True, help="folder for personalization.npz and personalization.json")
    p.add_argument("--blend", type=float, default=0.5, help="weight of the personal head, 0 to 1 (default 0.5)")
    p.add_argument(
        "--holdout",
        type=float,
        default=0.0,
        help="fraction of each class's faces held out to measure the change before the final fit on all (default 0)",
    )
    p.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime threads (default: all cores)")
    add_data_args(p, names=("seed", "strict"))
    return p


def main(args: argparse.Namespace) -> int:
    out = output_folder(args.out)  # before the work: a file there is one line, not a traceback after it
    clf = EmotionClassifier(resolve_model_path(args.model), threads=args.threads)
    crops, targets, skipped = read_labelled_faces(args.faces, clf.labels, args.strict)
    clf.check_embedding()
    logits, embeddings = clf.logits_and_embeddings(preprocess_faces(crops, clf.spec), calibrated=True)
    assert embeddings is not None  # check_embedding said the model has it
    report: dict = {"model": str(clf.model_path), "faces": len(crops), "skipped": skipped, "blend": args.blend}
    report["per_class"] = {clf.labels[c]: int((targets == c).sum()) for c in np.unique(targets)}
    if args.holdout > 0:
        fit_idx, held = holdout_split(targets, args.holdout, args.seed)
        p = fit_personalization(embeddings[fit_idx], targets[fit_idx], clf.labels, clf.sha256(), args.blend)
        before = float((logits[held].argmax(1) == targets[held]).mean())
        after = float((p.apply(logits[held], embeddings[held]).argmax(1) == targets[held]).mean())
        report["holdout"] = {"faces": len(held), "accuracy_before": before, "accuracy_after": after}
        print(f"held-out faces ({len(held)}): accuracy {before:.3f} with the shipped model, {after:.3f} personalized")
    p = fit_personalization(embeddings, targets, clf.labels, clf.sha256(), args.blend)
    path = p.save(out / "personalization.npz")
    (out / "personalization.json").write_text(json.dumps(report, indent=2) + "\n")
    counts = ", ".join(f"{k} {v}" for k, v in report["per_class"].items())
    print(f"wrote {path}: {len(crops)} faces ({counts})" + (f", {skipped} unreadable files skipped" if skipped else ""))
    return 0
