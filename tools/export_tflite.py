"""Convert a ferlite ONNX model to TFLite (fp32 and fp16) with onnx2tf, and check it on real faces.

TensorFlow pins its own numpy and protobuf, so this runs in its own environment (see
``make tflite``), never in ferlite's. Everything comes from PyPI; nothing is downloaded
at run time.

    .venv-tflite/bin/python tools/export_tflite.py exported/model.onnx --out exported/tflite
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ferlite.core.paths import find_shared  # noqa: E402
from ferlite.data.readers import read_fer2013_npz  # noqa: E402  (numpy + OpenCV only)
from ferlite.runtime.classifier import EmotionClassifier, preprocess_faces  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("onnx", help="an fp32 model from 'ferlite export'")
    p.add_argument("--out", required=True)
    p.add_argument("--faces", type=int, default=256, help="real PublicTest faces for the parity check")
    args = p.parse_args()

    import onnx2tf
    from ai_edge_litert.interpreter import Interpreter

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # onnx2tf rewrites the ONNX file it is given (shape inference); convert a copy, not the user's file.
    # The copy is named model.onnx because onnx2tf names its outputs after the input's stem.
    with tempfile.TemporaryDirectory() as tmp:
        work_copy = Path(tmp) / "model.onnx"
        shutil.copyfile(args.onnx, work_copy)
        onnx2tf.convert(input_onnx_file_path=str(work_copy), output_folder_path=str(out), non_verbose=True)
    clf = EmotionClassifier(args.onnx)
    val = read_fer2013_npz(find_shared("data/fer2013.npz"), split="val")
    x = preprocess_faces([val.images[i] for i in range(args.faces)], clf.spec)
    ref = clf.predict_logits(x)
    report = {}
    for name in ("model_float32.tflite", "model_float16.tflite"):
        it = Interpreter(str(out / name))
        inp, outp = it.get_input_details()[0], it.get_output_details()[0]
        it.resize_tensor_input(inp["index"], [1, clf.spec.input_size, clf.spec.input_size, 3])
        it.allocate_tensors()
        got = np.empty_like(ref)
        for i in range(len(x)):  # onnx2tf converts NCHW to TFLite's NHWC
            it.set_tensor(inp["index"], x[i : i + 1].transpose(0, 2, 3, 1))
            it.invoke()
            got[i] = it.get_tensor(outp["index"])[0]
        report[name] = {
            "bytes": (out / name).stat().st_size,
            "max_abs_diff": float(np.abs(got - ref).max()),
            "top1_agreement": float((got.argmax(1) == ref.argmax(1)).mean()),
            "faces": len(x),
        }
        print(
            f"{name}: {report[name]['bytes'] / 1e6:.2f} MB, vs ONNX on {len(x)} real faces: max |diff| "
            f"{report[name]['max_abs_diff']:.2e}, top-1 agreement {report[name]['top1_agreement']:.4f}"
        )
    (out / "tflite.json").write_text(
        json.dumps(
            {
                "labels": list(clf.labels),
                "input_size": clf.spec.input_size,
                "mean": list(clf.spec.mean),
                "std": list(clf.spec.std),
                "layout": "NHWC",
                **report,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
