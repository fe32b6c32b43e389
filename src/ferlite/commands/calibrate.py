"""``ferlite calibrate``: fit a logit bias and temperature on the validation domains, into the model file."""

from __future__ import annotations

import argparse

from ..core.options import add_data_args, call_with_options, positive_int
from ..export.calibrate import calibrate_file


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite calibrate",
        description="Fit a per-class logit bias and a temperature on the cross-domain validation set (FERPlus "
        "PublicTest, RAF-DB val, AffectNet val; never a test split) and write a copy of the ONNX model that carries "
        "them in its metadata, so that the runtime applies them. Prints each domain's accuracy, macro-F1, "
        "expected calibration error and largest prediction-share gap before and after.",
        add_help=add_help,
    )
    p.add_argument("model", help="an ONNX model written by ferlite export (its own calibration, if any, is replaced)")
    p.add_argument("--out", required=True, help="folder for the calibrated copy (the model's own folder: calibrate it in place)")
    p.add_argument("--name", default=None, help="file name of the copy (default: the model's)")
    p.add_argument("--threads", type=positive_int, default=None, help="ONNX Runtime threads (default: its choice)")
    add_data_args(p, names=("strict",))
    return p


def main(args: argparse.Namespace) -> int:
    call_with_options(calibrate_file, args)
    return 0
