"""The shipped full-integer TFLite files (make tflite-int8) against their ONNX int8 models, on real test faces, with
LiteRT's interpreter: int8 in and out, every op on the Edge TPU's list, the same answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ferlite.core.taxonomy import subset_columns
from ferlite.data.sources import load_dataset
from ferlite.export.tflite import EDGE_TPU_OPS, run_full_integer, tflite_ops
from ferlite.runtime import EmotionClassifier, resolve_model_path
from ferlite.runtime.model_io import preprocess_faces

pytestmark = pytest.mark.needs_shared

MODELS = Path(__file__).parents[1] / "models"
CASES = [
    # (TFLite file, its ONNX int8 model, test domain, faces)
    ("emotion_default.full_int8.tflite", resolve_model_path("default"), ("rafdb", "test"), 400),
    ("emotion_default.full_int8.tflite", resolve_model_path("default"), ("ferplus-majority", "test"), 400),
    ("eye_state.full_int8.tflite", MODELS / "eye_state_retrained.int8.onnx", ("cew", "test"), 726),
]


@pytest.mark.parametrize("name, reference, domain, faces", CASES, ids=[f"{c[0]}-{c[2][0]}" for c in CASES])
def test_full_integer_tflite_matches_its_onnx_int8_model(name, reference, domain, faces):
    from ai_edge_litert.interpreter import Interpreter

    clf = EmotionClassifier(reference)
    it = Interpreter(str(MODELS / name))
    inp = it.get_input_details()[0]
    it.resize_tensor_input(inp["index"], [1, clf.spec.input_size, clf.spec.input_size, inp["shape"][-1]])
    it.allocate_tensors()
    assert np.dtype(inp["dtype"]) == np.int8
    assert all(np.dtype(d["dtype"]) == np.int8 for d in it.get_output_details())

    ds = load_dataset(*domain, color=clf.spec.takes_colour)  # the default takes colour faces
    ds = ds.sample(min(faces, len(ds)), seed=0)
    x = preprocess_faces(list(ds.images), clf.spec)
    cols = subset_columns(clf.labels, ds.classes)
    onnx_top = clf.predict_logits(x, calibrated=False)[:, cols].argmax(1)
    tflite_top = run_full_integer(it, x, len(clf.labels))[:, cols].argmax(1)
    assert (tflite_top == onnx_top).mean() >= 0.97
    assert abs((tflite_top == ds.labels).mean() - (onnx_top == ds.labels).mean()) <= 0.02


@pytest.mark.parametrize("name", ["emotion_default.full_int8.tflite", "eye_state.full_int8.tflite"])
def test_every_op_is_on_the_edge_tpu_list(name):
    ops = tflite_ops(MODELS / name)
    assert ops and set(ops) <= EDGE_TPU_OPS, set(ops) - EDGE_TPU_OPS
