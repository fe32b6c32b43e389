"""Quantization-aware training (--qat): the rounding is the int8 export's, and a run's checkpoints are plain ones."""

import subprocess
import sys
from dataclasses import replace

import pytest
import torch
from conftest import train_run

from ferlite.core.paths import asset_path
from ferlite.export.from_onnx import onnx_parameters
from ferlite.models import create_model
from ferlite.models.checkpoint import load_checkpoint, model_from_checkpoint
from ferlite.models.qat import Int8Weights, Uint8Activations, simulate_int8


def test_the_weight_rounding_is_the_int8_exports():
    """ONNX Runtime's per-channel int8 weights of the bundled default are fixed points of the simulated rounding:
    same grid (max |w| / 127 per output channel), same range. A different scale rule would move them."""
    weights = [torch.from_numpy(w) for _, w, _ in onnx_parameters(asset_path("emotion_default.int8.onnx"))]
    assert len(weights) == 53  # 52 convolutions and the classifier
    for w in weights:
        assert torch.equal(Int8Weights()(w), w)
    w = torch.randn(16, 8, 3, 3)
    rounded = Int8Weights()(w)
    assert 0 < (rounded - w).abs().max() <= w.abs().amax() / 127 / 2 + 1e-6
    assert all(len(torch.unique(rounded[c])) <= 255 for c in range(16))


def test_activation_rounding_learns_a_range_with_zero_and_takes_256_levels_at_most():
    act = Uint8Activations(momentum=0.5)
    act.eval()
    x = torch.linspace(0.5, 6.0, 10_000)
    assert torch.equal(act(x), x)  # no range learnt yet: passed through
    act.train()
    act(x), act(x * 2)
    assert act.low.item() == 0.0 and act.high.item() == pytest.approx(9.0)  # zero always inside; 6 then 12 averaged
    act.eval()
    out = act(torch.cat([torch.zeros(1), x * 2]))
    assert out[0] == 0.0 and len(torch.unique(out)) <= 256 and out.max() <= 9.0 + 1e-5


def test_simulation_hooks_follow_a_deep_copy():
    """The EMA copy of a network rounds with its own ranges, not the trained network's."""
    import copy

    model = simulate_int8(create_model("mobilenetv2_fer", num_classes=4, pretrained=False, input_size=48))
    model.train()
    model(torch.randn(4, 3, 48, 48))
    twin = copy.deepcopy(model)
    assert twin.int8_simulation[0] is not model.int8_simulation[0]
    twin.int8_simulation[0].activation.high.fill_(123.0)
    assert model.int8_simulation[0].activation.high.item() != 123.0
    calls = []
    twin.features[0].register_forward_pre_hook(lambda m, a: calls.append(m))
    twin(torch.randn(1, 3, 48, 48))
    assert calls == [twin.features[0]]


def _qat_argv(out, data):
    """A MobileNetV2 from scratch at 48 px on the synthetic faces, with an EMA copy (validated and saved)."""
    return [
        *("--dataset", "folder", "--data-path", str(data), "--input-size", "48", "--per-class", "0"),
        *("--pretrained", "none", "--batch-size", "32", "--workers", "0", "--no-progress", "--ema", "0.9"),
        *("--out", str(out)),
    ]


@pytest.fixture
def qat_run(tiny_run):
    """_qat_argv's run as a TrainConfig: a MobileNetV2 from scratch with an EMA copy, trained under int8 rounding."""
    return replace(tiny_run, model="mobilenetv2_fer", batch_size=32, ema=0.9, qat=True, epochs=2)


@pytest.mark.slow
def test_a_qat_run_writes_plain_checkpoints_that_load_and_resume(tmp_path, qat_run, synthetic_faces):
    out = tmp_path / "run"
    train_run(qat_run, stop_after=1)
    result = train_run(qat_run, resume=True)
    assert load_checkpoint(out / "last.pth")["epoch"] == 1
    plain = set(create_model("mobilenetv2_fer", num_classes=4, pretrained=False, input_size=48).state_dict())
    for name in ("best.pth", "last.pth"):
        assert set(load_checkpoint(out / name)["model"]) == plain, name
    model, spec, _ = model_from_checkpoint(result["best_path"])  # a plain network, as export and evaluate load it
    assert spec.labels == ("angry", "happy", "sad", "surprise")
    # The learnt activation ranges travel beside the weights, so that the resumed EMA copy rounds with whole ranges:
    # resumed without them, it averaged them up from zero ("seen" below 1) and its validation collapsed.
    ranges = load_checkpoint(out / "last.pth")["int8_ranges"]
    assert set(ranges) == {"model", "ema"} and set(ranges["ema"]) == set(ranges["model"])
    # One range each for the input, 35 ReLU6, 17 projections, 10 residual sums, the pooled features and the logits.
    seen = [float(v) for k, v in ranges["ema"].items() if k.endswith(".seen")]
    assert len(seen) == 65 and all(v == pytest.approx(1.0, abs=1e-6) for v in seen)
    assert all(float(v) > 0 for k, v in ranges["ema"].items() if k.endswith(".high"))
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "train", *_qat_argv(out, synthetic_faces), "--epochs", "3", "--resume"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode != 0 and "was trained with --qat; resume it the same way" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow
def test_qat_of_another_architecture_is_one_clear_line():
    proc = subprocess.run(
        [sys.executable, "-m", "ferlite", "train", "--qat", "--model", "cnn_small", "--dataset", "folder", "--data-path", "."],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (
        proc.returncode == 2
        and "--qat simulates the int8 export of a MobileNetV2 (mobilenetv2_fer), not of cnn_small" in proc.stderr
    )
    assert "Traceback" not in proc.stderr
