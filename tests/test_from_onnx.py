"""Rebuilding a trainable checkpoint from an exported ONNX model: exact in fp32, close in int8, trainable."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from ferlite.data import load_dataset
from ferlite.export.from_onnx import checkpoint_from_onnx, onnx_parameters
from ferlite.export.onnx import export_onnx, quantize_int8
from ferlite.models import create_model
from ferlite.models.checkpoint import model_from_checkpoint, save_checkpoint
from ferlite.runtime.model_io import preprocess_faces

pytestmark = [pytest.mark.needs_shared, pytest.mark.slow]

CLASSES = ("angry", "happy", "neutral", "sad", "surprise")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """An ImageNet MobileNetV2 at 64 px (real BatchNorm statistics, so folding is not trivial) and its exports."""
    out = tmp_path_factory.mktemp("from_onnx")
    torch.manual_seed(0)
    model = create_model("mobilenetv2_fer", num_classes=5, pretrained=True, input_size=64)
    model.spec = model.spec.with_labels(CLASSES)
    model.eval()
    fp32 = export_onnx(model, model.spec, out / "m.onnx")
    train = load_dataset("fer2013", "train", classes=CLASSES)
    calib = train.subset(np.linspace(0, len(train) - 1, 256).astype(int))  # spread over the split
    int8 = quantize_int8(fp32, out / "m.int8.onnx", calib.subset(np.arange(64)))
    val = load_dataset("fer2013", "val", classes=CLASSES)
    cfg = model.spec
    pre = cfg.with_labels(CLASSES)
    x = torch.from_numpy(preprocess_faces([val.images[i] for i in range(128)], pre))
    return {"model": model, "fp32": fp32, "int8": int8, "calib": calib, "x": x, "dir": out}


def _rebuilt(state, tmp_path):
    path = tmp_path / "rebuilt.pth"
    save_checkpoint(path, state)
    return model_from_checkpoint(path)[0]  # also proves it loads with weights_only=True


def test_onnx_parameters_reads_qdq_weights(exported):
    fp32, int8 = onnx_parameters(exported["fp32"]), onnx_parameters(exported["int8"])
    assert [p[0] for p in fp32] == ["Conv"] * 52 + ["Gemm"]
    assert [p[1].shape for p in fp32] == [p[1].shape for p in int8]
    # per-channel int8 weights dequantize to within half a quantization step of the fp32 ones
    w32, w8 = fp32[5][1], int8[5][1]
    step = np.abs(w32).reshape(len(w32), -1).max(1) / 127
    assert np.all(np.abs(w32 - w8).reshape(len(w32), -1).max(1) <= step * 0.51 + 1e-7)
    assert not np.array_equal(w32, w8)


def test_fp32_round_trip_is_exact_and_batchnorm_is_unfolded(exported, tmp_path):
    state = checkpoint_from_onnx(exported["fp32"], exported["calib"])
    assert state["spec"]["labels"] == list(CLASSES) and state["spec"]["input_size"] == 64
    rebuilt = _rebuilt(state, tmp_path)
    x = exported["x"]
    with torch.no_grad():
        want, got = exported["model"](x), rebuilt(x)
    assert torch.allclose(want, got, atol=1e-3), (want - got).abs().max()
    bn = rebuilt.features[3].conv[0][1]
    assert not torch.allclose(bn.running_var, torch.ones_like(bn.running_var))  # measured, not left at the identity
    # In training mode BatchNorm uses batch statistics: unfolded, they are close to the measured ones.
    rebuilt.train()
    rebuilt.classifier[0].p = 0.0
    with torch.no_grad():
        trained_mode = rebuilt(x)
    agreement = (trained_mode.argmax(1) == want.argmax(1)).float().mean().item()
    assert agreement > 0.8, agreement


def test_int8_round_trip_is_close(exported, tmp_path):
    rebuilt = _rebuilt(checkpoint_from_onnx(exported["int8"], exported["calib"]), tmp_path)
    with torch.no_grad():
        want, got = exported["model"](exported["x"]), rebuilt(exported["x"])
    assert (want.argmax(1) == got.argmax(1)).float().mean().item() > 0.9


def test_cli_from_onnx_names_a_missing_file(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "from-onnx", str(tmp_path / "nope.onnx"), "--out", str(tmp_path / "x.pth")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "nope.onnx: model file not found" in proc.stderr and "Traceback" not in proc.stderr
