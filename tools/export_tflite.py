"""Convert a ferlite ONNX model to TFLite (fp32 and fp16) and check it on real faces: the command of
:func:`ferlite.export.tflite.convert_to_tflite`, run in its own environment (``make tflite``), never in ferlite's.

    .venv-tflite/bin/python tools/export_tflite.py exported/model.onnx --out exported/tflite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # ferlite's source, not installed there

from ferlite.export.tflite import convert_to_tflite  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx", help="an fp32 model from 'ferlite export'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--faces", type=int, default=256, help="real PublicTest faces for the parity check")
    args = p.parse_args()
    convert_to_tflite(args.onnx, args.out, args.faces)


if __name__ == "__main__":
    main()
