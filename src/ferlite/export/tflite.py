"""TFLite (fp32 and fp16) from a ferlite ONNX model with onnx2tf, checked on real faces with the LiteRT interpreter.

TensorFlow pins its own numpy and protobuf, so this runs in its own environment (``make tflite``), never in
ferlite's; it needs onnx2tf, ai-edge-litert, onnxruntime and OpenCV there, and imports no torch.

Example::

    .venv-tflite/bin/python tools/export_tflite.py exported/model.onnx --out exported/tflite
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..core.paths import find_shared
from ..data.readers import read_fer2013_npz  # numpy + OpenCV only
from ..runtime.classifier import EmotionClassifier, preprocess_faces


def convert_to_tflite(onnx_path: str | Path, out: str | Path, faces: int = 256) -> dict[str, Any]:
    """Write OUT/model_float32.tflite and model_float16.tflite (NHWC input) and OUT/tflite.json; the parity report
    against the ONNX model on the first ``faces`` FER2013 PublicTest faces."""
    import onnx2tf
    from ai_edge_litert.interpreter import Interpreter

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # onnx2tf rewrites the ONNX file it is given (shape inference); convert a copy, not the user's file.
    # The copy is named model.onnx because onnx2tf names its outputs after the input's stem.
    with tempfile.TemporaryDirectory() as tmp:
        work_copy = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, work_copy)
        onnx2tf.convert(input_onnx_file_path=str(work_copy), output_folder_path=str(out), non_verbose=True)
    clf = EmotionClassifier(onnx_path)
    val = read_fer2013_npz(find_shared("data/fer2013.npz"), split="val")
    x = preprocess_faces([val.images[i] for i in range(faces)], clf.spec)
    ref = clf.predict_logits(x)
    report = {}
    for name in ("model_float32.tflite", "model_float16.tflite"):
        it = Interpreter(str(out / name))
        inp = it.get_input_details()[0]
        # the logits, not the embedding output: the output as wide as the label list
        outp = next(d for d in it.get_output_details() if d["shape"][-1] == len(clf.labels))
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
    return report
