import pytest
import torch
from conftest import train_run

from ferlite.models import count_parameters, create_model
from ferlite.models.checkpoint import model_from_checkpoint
from ferlite.training.prune import prune_checkpoint, prune_mobilenetv2

pytestmark = pytest.mark.slow


def test_ratio_zero_is_identity_and_pruning_shrinks_real_convs():
    torch.manual_seed(0)
    model = create_model("mobilenetv2_fer", num_classes=4, pretrained=True, input_size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    same, _ = prune_mobilenetv2(model, 0.0)
    torch.testing.assert_close(same.eval()(x), model(x))
    half, widths = prune_mobilenetv2(model, 0.5)
    assert count_parameters(half) < 0.7 * count_parameters(model)
    assert widths[1] == 48 and all(w % 8 == 0 for w in widths)
    assert half.features[5].conv[1][0].weight.shape[0] == widths[4]  # the depthwise conv really is narrower
    assert half.eval()(x).shape == (2, 4)


def test_prune_command_fine_tunes_and_rebuilds(tmp_path, tiny_run):
    base = train_run(tiny_run, model="mobilenetv2_fer", pretrained="auto", out=str(tmp_path / "base"))["best_path"]
    summary = prune_checkpoint(base, 0.5, tmp_path / "p", epochs=1, progress=False)
    assert summary["params_after"] < 0.7 * summary["params_before"]
    model, cfg, state = model_from_checkpoint(tmp_path / "p" / "best.pth")
    assert state["model_kwargs"]["hidden_channels"] == summary["hidden_channels"]
    assert count_parameters(model) == summary["params_after"] and cfg.input_size == 48
