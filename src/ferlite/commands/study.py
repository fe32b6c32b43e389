"""``ferlite study``: the reference study's options, into :func:`ferlite.training.study.run_study`."""

from __future__ import annotations

import argparse

from ..core.options import add_data_args, call_with_options, positive_int
from ..training.study import ORDER, StudyConfig, run_study


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite study",
        description="Reproduce the reference comparison on FER2013 (5 classes: angry, happy, neutral, sad, surprise) "
        "with class balancing: custom CNN, MobileNetV2 head-only, MobileNetV2 fine-tuned (top blocks) and full "
        "fine-tuning (10 epochs, and 30 with MixUp/CutMix and EMA). Models are selected on PublicTest and reported "
        "on PrivateTest. Resumable.",
        add_help=add_help,
    )
    p.add_argument("--out", default="runs/study_ref5", help="folder for the runs and results.json")
    p.add_argument("--report", default=None, help="also write the results as a Markdown page (e.g. docs/RESULTS.md)")
    p.add_argument("--configs", default=",".join(ORDER), help=f"comma list of configurations (default: {','.join(ORDER)})")
    p.add_argument("--classes", default="ref5", help="class preset or list (default ref5)")
    p.add_argument("--per-class", type=int, default=4000, help="augment classes below this count up to it (default 4000)")
    p.add_argument(
        "--cap",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also cap larger classes at --per-class (the reference's ~1000-per-class protocol)",
    )
    p.add_argument("--input-size", type=int, default=96, help="input side for every model (default 96)")
    p.add_argument("--epochs", type=int, default=None, help="override every configuration's epoch count")
    p.add_argument("--label-smoothing", type=float, default=0.1)
    add_data_args(p, names=("dataset", "data_path", "seed"))
    p.add_argument("--workers", type=int, default=None)
    p.add_argument("--threads", type=positive_int, default=None, help="torch threads for training (default: all cores)")
    p.add_argument("--latency-threads", type=int, default=1, help="threads for the per-face latency (default 1)")
    p.add_argument(
        "--progress", action=argparse.BooleanOptionalAction, default=True, help="progress bars (--no-progress for logs)"
    )
    p.add_argument(
        "--note",
        default=None,
        metavar="MARKDOWN_FILE",
        help="a Markdown file whose text goes into the report after the bar (e.g. how the machine was shared, "
        "later runs); kept in the repository so that the report can be regenerated",
    )
    p.add_argument(
        "--report-only", action="store_true", help="only rewrite --report from OUT/results.json; train and evaluate nothing"
    )
    return p


def study_config(args: argparse.Namespace) -> StudyConfig:
    return call_with_options(StudyConfig, args)


def main(args: argparse.Namespace) -> int:
    run_study(study_config(args))
    return 0
