"""``ferlite from-onnx``: a trainable checkpoint rebuilt from an exported ONNX model."""

from __future__ import annotations

import argparse

from ..core.options import add_data_args, call_with_options
from ..export.from_onnx import rebuild_checkpoint


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite from-onnx",
        description="Rebuild a trainable checkpoint from an exported ONNX model (fp32 or int8), e.g. a bundled model, "
        "to fine-tune it with 'ferlite train --init'. BatchNorm layers, folded into the convolutions by the export, "
        "are unfolded with statistics measured on real training faces; the checkpoint is then checked against the "
        "ONNX model on the validation split.",
        add_help=add_help,
    )
    p.add_argument("onnx", help="an .onnx written by ferlite export (its metadata names classes and preprocessing)")
    p.add_argument("--out", required=True, help="run folder for the checkpoint (OUT/best.pth)")
    add_data_args(p, names=("dataset", "data_path", "seed"))  # faces for the BatchNorm statistics and the check
    p.add_argument("--calib-size", type=int, default=2048, help="training faces for the BatchNorm statistics (default 2048)")
    return p


def main(args: argparse.Namespace) -> int:
    call_with_options(rebuild_checkpoint, args)
    return 0
