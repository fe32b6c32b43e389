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
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.paths import find_shared
from ..data.readers import read_fer2013_npz  # numpy + OpenCV only
from ..runtime.classifier import EmotionClassifier
from ..runtime.model_io import preprocess_faces


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


# The operations the Edge TPU compiler maps to the TPU, by TFLite builtin name (Coral's "TensorFlow models on the
# Edge TPU" page, supported operations). Checked by name only: the compiler itself is not available here.
EDGE_TPU_OPS = frozenset(
    {
        "ADD", "AVERAGE_POOL_2D", "CONCATENATION", "CONV_2D", "DEPTHWISE_CONV_2D", "EXPAND_DIMS", "FULLY_CONNECTED",
        "L2_NORMALIZATION", "LOGISTIC", "LSTM", "MAXIMUM", "MAX_POOL_2D", "MEAN", "MINIMUM", "MUL", "PACK", "PAD",
        "PRELU", "QUANTIZE", "DEQUANTIZE", "REDUCE_MAX", "REDUCE_MIN", "RELU", "RELU6", "RELU_N1_TO_1", "RESHAPE",
        "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "RSQRT", "SLICE", "SOFTMAX", "SPACE_TO_DEPTH", "SPLIT",
        "SQUEEZE", "STRIDED_SLICE", "SUB", "SUM", "SQUARED_DIFFERENCE", "TANH", "TRANSPOSE", "TRANSPOSE_CONV",
    }
)  # fmt: skip


def tflite_ops(path: str | Path) -> list[str]:
    """The builtin operations of a TFLite file (read without XNNPACK, which would show as one DELEGATE op)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    it = Interpreter(str(path), experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    return sorted({d["op_name"] for d in it._get_ops_details()})


def run_full_integer(interpreter: Any, x_nchw: np.ndarray, n_out: int) -> np.ndarray:
    """Float outputs (the logits, ``n_out`` wide) of a full-integer model for float NCHW inputs, one face at a
    time: quantised with the input's scale and zero point, dequantised with the output's."""
    inp = interpreter.get_input_details()[0]
    outp = next(d for d in interpreter.get_output_details() if d["shape"][-1] == n_out)
    (in_scale, in_zero), (out_scale, out_zero) = inp["quantization"], outp["quantization"]
    info = np.iinfo(inp["dtype"])
    got = np.empty((len(x_nchw), n_out), np.float32)
    for i in range(len(x_nchw)):
        q = np.clip(np.round(x_nchw[i : i + 1].transpose(0, 2, 3, 1) / in_scale + in_zero), info.min, info.max)
        interpreter.set_tensor(inp["index"], q.astype(inp["dtype"]))
        interpreter.invoke()
        got[i] = (interpreter.get_tensor(outp["index"])[0].astype(np.float32) - out_zero) * out_scale
    return got


def convert_to_tflite_int8(
    onnx_path: str | Path,
    out: str | Path,
    reference: str | Path,
    calibration: tuple[str, ...] = ("ferplus", "rafdb", "affectnet"),
    calib_faces: int = 300,
    domains: tuple[tuple[str, str], ...] = (("ferplus-majority", "test"), ("rafdb", "test")),
    limit: int | None = None,
) -> dict[str, Any]:
    """A full-integer TFLite model (int8 weights, activations, input and output) from an fp32 ferlite ONNX model,
    with onnx2tf's int8 path, calibrated on ``calib_faces`` real training faces of each ``calibration`` dataset;
    checked against the ONNX int8 model ``reference`` with the LiteRT interpreter on each of ``domains`` (top-1
    agreement, both accuracies; at most ``limit`` faces per domain), timed on 1 and 2 threads (XNNPACK), and its
    operations listed against the Edge TPU's. Writes OUT/model_full_integer_quant.tflite and OUT/tflite_int8.json.
    """
    import onnx
    import onnx2tf
    from ai_edge_litert.interpreter import Interpreter

    from ..core.taxonomy import subset_columns
    from ..data.sources import load_dataset

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clf = EmotionClassifier(reference)
    spec, n_out = clf.spec, len(clf.labels)
    calib = []
    for name in calibration:  # training faces only: the test splits score the result
        ds = load_dataset(name, "train", color=spec.takes_colour)
        ds = ds.sample(min(calib_faces, len(ds)), seed=0)
        calib.append(preprocess_faces(list(ds.images), spec).transpose(0, 2, 3, 1))
    channels = calib[0].shape[-1]
    with tempfile.TemporaryDirectory() as tmp:
        np.save(Path(tmp) / "calibration.npy", np.concatenate(calib).astype(np.float32))
        work_copy = Path(tmp) / "model.onnx"
        shutil.copyfile(onnx_path, work_copy)
        input_name = onnx.load(str(work_copy)).graph.input[0].name
        onnx2tf.convert(
            input_onnx_file_path=str(work_copy),
            output_folder_path=str(out),
            output_integer_quantized_tflite=True,
            quant_type="per-channel",
            # the faces are already normalised by the model's own mean and std
            custom_input_op_name_np_data_path=[
                [input_name, str(Path(tmp) / "calibration.npy"), np.zeros((1, 1, 1, channels)), np.ones((1, 1, 1, channels))]
            ],
            input_quant_dtype="int8",
            output_quant_dtype="int8",
            non_verbose=True,
        )
    path = out / "model_full_integer_quant.tflite"
    it = Interpreter(str(path))
    it.resize_tensor_input(it.get_input_details()[0]["index"], [1, spec.input_size, spec.input_size, channels])
    it.allocate_tensors()
    report: dict[str, Any] = {
        "file": path.name,
        "bytes": path.stat().st_size,
        "input_dtype": str(np.dtype(it.get_input_details()[0]["dtype"])),
        "output_dtypes": sorted({str(np.dtype(d["dtype"])) for d in it.get_output_details()}),
        "domains": {},
    }
    for name, split in domains:
        ds = load_dataset(name, split, color=spec.takes_colour)
        if limit:
            ds = ds.sample(min(limit, len(ds)), seed=0)
        x = preprocess_faces(list(ds.images), spec)
        cols = subset_columns(clf.labels, ds.classes)  # a 7-class test set: the argmax among its classes
        ref = clf.predict_logits(x, calibrated=False)[:, cols].argmax(1)
        got = run_full_integer(it, x, n_out)[:, cols].argmax(1)
        report["domains"][f"{name} {split}"] = {
            "faces": len(ds),
            "top1_agreement": float((got == ref).mean()),
            "tflite_int8_accuracy": float((got == ds.labels).mean()),
            "onnx_int8_accuracy": float((ref == ds.labels).mean()),
        }
        print(f"{name} {split}: {report['domains'][f'{name} {split}']}", flush=True)
    x1 = preprocess_faces(list(ds.images[:1]), spec)
    for threads in (1, 2):
        timed = Interpreter(str(path), num_threads=threads)
        timed.resize_tensor_input(timed.get_input_details()[0]["index"], [1, spec.input_size, spec.input_size, channels])
        timed.allocate_tensors()
        for _ in range(20):
            run_full_integer(timed, x1, n_out)
        times = []
        for _ in range(200):
            t = time.perf_counter()
            run_full_integer(timed, x1, n_out)
            times.append(time.perf_counter() - t)
        report[f"latency_ms_{threads}_threads"] = 1000 * float(np.median(times))
    ops = tflite_ops(path)
    report["ops"] = {op: op in EDGE_TPU_OPS for op in ops}
    report["all_ops_on_edge_tpu_list"] = all(report["ops"].values())
    (out / "tflite_int8.json").write_text(
        json.dumps({"labels": list(clf.labels), "input_size": spec.input_size, **report}, indent=2) + "\n"
    )
    print(json.dumps({k: v for k, v in report.items() if k != "domains"}, indent=2))
    return report
