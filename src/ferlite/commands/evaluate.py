"""``ferlite evaluate``: one dataset split, or every validation or test domain, into reports beside the model."""

from __future__ import annotations

import argparse

from ..core.options import add_data_args, call_with_options, positive_int
from ..core.spec import TTA_MODES
from ..evaluation.evaluate import (
    DOMAIN_SETS,
    evaluate_file,
)


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite evaluate",
        description="Evaluate a checkpoint on a dataset split: accuracy, per-class and macro/weighted "
        "precision, recall and F1, and a confusion matrix (text, PNG and a JSON report). "
        "FER2013 PublicTest (--split val) is for model selection; PrivateTest (--split test) for final reports.",
        add_help=add_help,
    )
    p.add_argument("checkpoint", help="a .pth written by ferlite train (best.pth or last.pth), or an .onnx from ferlite export")
    add_data_args(p, names=("dataset", "data_path"))
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
    add_data_args(p, names=("strict", "val_fraction", "seed"))
    p.add_argument(
        "--out", default=None, help="folder for report.json, report.txt and confusion.png (default: beside the checkpoint)"
    )
    return p


def main(args: argparse.Namespace) -> int:
    call_with_options(evaluate_file, args)
    return 0
