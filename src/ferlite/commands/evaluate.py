"""``ferlite evaluate``: one dataset split, or every validation or test domain, into reports beside the model."""

from __future__ import annotations

import argparse

from ..core.options import positive_int
from ..evaluation.evaluate import (
    DOMAIN_SETS,
    evaluate_file,
)
from ..runtime.classifier import TTA_MODES


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite evaluate",
        description="Evaluate a checkpoint on a dataset split: accuracy, per-class and macro/weighted "
        "precision, recall and F1, and a confusion matrix (text, PNG and a JSON report). "
        "FER2013 PublicTest (--split val) is for model selection; PrivateTest (--split test) for final reports.",
        add_help=add_help,
    )
    p.add_argument("checkpoint", help="a .pth written by ferlite train (best.pth or last.pth), or an .onnx from ferlite export")
    p.add_argument("--dataset", default="fer2013", help="fer2013, ferplus or folder (default: fer2013)")
    p.add_argument("--data-path", default=None, help="dataset file or folder (default: the shared fer2013.npz)")
    p.add_argument(
        "--split", default="val", help="train, val or test (default: val, for selection; ask for test by name for a final report)"
    )
    p.add_argument(
        "--classes",
        default=None,
        help="a preset (ref5, fer7, ferplus8) or a comma list; default: the model's classes. A subset of them scores "
        "the model on that task: faces of those classes only, the prediction being the best of those classes "
        "(e.g. a 7-class model on the 5-class study task)",
    )
    p.add_argument(
        "--tta",
        default="none",
        choices=TTA_MODES,
        help="test-time augmentation: average the logits of each face and its mirror image (flip), or of those "
        "two and both shifted 4%% of the side up, down, left and right (shift-flip, ten views); default none",
    )
    p.add_argument(
        "--domains",
        default=None,
        choices=tuple(DOMAIN_SETS),
        help="instead of one --dataset, report every domain of a split: 'val' (FERPlus PublicTest, RAF-DB val, "
        "AffectNet val: for selection) or 'test' (RAF-DB, AffectNet, FERPlus PrivateTest by majority and by "
        "plurality, FER2013 PrivateTest: final reports); each with prediction shares and calibration error",
    )
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--strict", action="store_true", help="stop at the first corrupt row or image instead of skipping it")
    p.add_argument("--val-fraction", type=float, default=0.15, help="held-out fraction for folders without train/test")
    p.add_argument("--seed", type=int, default=0, help="seed of the folder split")
    p.add_argument(
        "--out", default=None, help="folder for report.json, report.txt and confusion.png (default: beside the checkpoint)"
    )
    return p


def main(args: argparse.Namespace) -> int:
    evaluate_file(
        checkpoint=args.checkpoint,
        dataset=args.dataset,
        data_path=args.data_path,
        split=args.split,
        classes=args.classes,
        tta=args.tta,
        domains=args.domains,
        batch_size=args.batch_size,
        workers=args.workers,
        threads=args.threads,
        strict=args.strict,
        val_fraction=args.val_fraction,
        seed=args.seed,
        out=args.out,
    )
    return 0
