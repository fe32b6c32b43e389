"""Convert a ferlite ONNX model to TFLite and check it on real faces, in its own environment (``make tflite``,
``make tflite-int8``), never in ferlite's: fp32 and fp16 (:func:`ferlite.export.tflite.convert_to_tflite`), or with
``--int8`` full integer (:func:`ferlite.export.tflite.convert_to_tflite_int8`), checked against the ONNX int8 model.

    .venv-tflite/bin/python tools/export_tflite.py exported/model.onnx --out exported/tflite
    .venv-tflite/bin/python tools/export_tflite.py exported/model.onnx --int8 --reference default --out exported/tflite
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))  # ferlite's source, not installed there

from ferlite.export.tflite import convert_to_tflite, convert_to_tflite_int8  # noqa: E402
from ferlite.runtime import resolve_model_path  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx", help="an fp32 model from 'ferlite export'")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--faces", type=int, default=256, help="real PublicTest faces for the fp32/fp16 parity check")
    p.add_argument("--int8", action="store_true", help="full-integer TFLite (int8 input, output and activations)")
    p.add_argument(
        "--reference", default="default", help="--int8: the ONNX int8 model to compare with (a path or a bundled name)"
    )
    p.add_argument("--calibration", default="ferplus,rafdb,affectnet", help="--int8: datasets whose train splits calibrate it")
    p.add_argument("--domains", default="ferplus-majority:test,rafdb:test", help="--int8: dataset:split pairs it is scored on")
    p.add_argument("--limit", type=int, default=None, help="--int8: at most this many faces per scored domain")
    args = p.parse_args()
    if not args.int8:
        convert_to_tflite(args.onnx, args.out, args.faces)
        return
    domains = tuple(tuple(d.split(":")) for d in args.domains.split(","))
    convert_to_tflite_int8(
        args.onnx, args.out, resolve_model_path(args.reference), tuple(args.calibration.split(",")), domains=domains,
        limit=args.limit,
    )  # fmt: skip


if __name__ == "__main__":
    main()
