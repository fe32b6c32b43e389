import pytest
import torch

from ferlite.core.paths import find_shared
from ferlite.models import count_parameters, create_model, list_models
from ferlite.models.mobilenetv2 import MobileNetV2, load_imagenet_weights

pytestmark = pytest.mark.needs_shared


def test_registry_lists_and_rejects():
    assert {"mobilenetv2_fer", "cnn_small"} <= set(list_models())
    with pytest.raises(ValueError, match="Unknown model"):
        create_model("resnet9000", num_classes=3)


def test_torchvision_state_dict_loads_key_for_key():
    weights = torch.load(find_shared("weights/mobilenet_v2_imagenet.pth"), weights_only=True)
    model = MobileNetV2(num_classes=1000)
    model.load_state_dict(weights, strict=True)  # every torchvision key, same shapes
    assert count_parameters(model) == 3_504_872


def test_pretrained_backbone_and_new_head():
    model = create_model("mobilenetv2_fer", num_classes=5, pretrained=True, input_size=96)
    ref = torch.load(find_shared("weights/mobilenet_v2_imagenet.pth"), weights_only=True)
    assert torch.equal(model.features[3].conv[0][0].weight, ref["features.3.conv.0.0.weight"])
    assert model.classifier[1].out_features == 5
    assert model.spec.input_size == 96 and model.spec.mean[0] == pytest.approx(0.485)


def test_bad_weights_file_is_a_clear_error(tmp_path):
    bad = tmp_path / "w.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="w.pth"):
        load_imagenet_weights(MobileNetV2(), bad)


def _bn_stats(module):
    return [b.running_mean.clone() for b in module.modules() if isinstance(b, torch.nn.BatchNorm2d)]


@pytest.mark.parametrize("mode,trainable_blocks", [("head", 0), ("top", 3), ("full", 19)])
def test_modes_freeze_weights_and_batchnorm_statistics(mode, trainable_blocks):
    torch.manual_seed(0)
    model = create_model("mobilenetv2_fer", num_classes=4, pretrained=False, mode=mode, top_blocks=3, input_size=64)
    trained = [any(p.requires_grad for p in b.parameters()) for b in model.features]
    assert sum(trained) == trainable_blocks and all(p.requires_grad for p in model.classifier.parameters())
    frozen_before = _bn_stats(model.features[: 19 - trainable_blocks])
    weights_before = [p.clone() for p in model.features[0].parameters()]
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], 1e-2)
    model.train()
    loss = model(torch.randn(8, 3, 64, 64)).logsumexp(1).mean()
    loss.backward()
    opt.step()
    for a, b in zip(frozen_before, _bn_stats(model.features[: 19 - trainable_blocks])):
        assert torch.equal(a, b)  # frozen BatchNorm kept its statistics in train mode
    changed = any(not torch.equal(a, b) for a, b in zip(weights_before, model.features[0].parameters()))
    assert changed == (mode == "full")
    if trainable_blocks:
        assert not torch.equal(_bn_stats(model.features[18])[0], torch.zeros(1280))


def test_unknown_mode_is_rejected():
    with pytest.raises(ValueError, match="mode"):
        create_model("mobilenetv2_fer", num_classes=3, mode="half")


def test_reference_cnn_shape():
    model = create_model("cnn_small", num_classes=5, input_size=48)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 64]
    assert sum(isinstance(m, torch.nn.MaxPool2d) for m in model.modules()) == 2
    assert model(torch.zeros(2, 3, 48, 48)).shape == (2, 5)
    with pytest.raises(ValueError):
        create_model("cnn_small", num_classes=5, pretrained=True)


@pytest.mark.slow
def test_an_ensemble_checkpoint_averages_its_members_and_exports_with_one_classifier(tmp_path):
    """tools/ensemble_checkpoints.py joins two checkpoints at different input sizes; the rebuilt network, its ONNX
    file and the file's embedding output all behave as one model whose logits are the mean of the members'."""
    import subprocess
    import sys

    import onnxruntime as ort

    from ferlite.core.errors import CheckpointError
    from ferlite.export.from_onnx import checkpoint_from_onnx
    from ferlite.export.onnx import add_embedding_output, export_onnx
    from ferlite.models.checkpoint import make_checkpoint, model_from_checkpoint, save_checkpoint

    torch.manual_seed(0)
    x = torch.rand(3, 3, 64, 64)
    expected = 0
    for name, size in (("small", 48), ("large", 64)):
        m = create_model("mobilenetv2_fer", num_classes=3, pretrained=True, input_size=size).eval()  # real features
        torch.nn.init.normal_(m.get_classifier().weight, 0, 1.0)  # logits far from zero, so a wrong mean shows
        m.spec = m.spec.with_labels(("happy", "sad", "neutral"))
        view = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)
        with torch.no_grad():
            expected = expected + m(view) / 2
        save_checkpoint(tmp_path / f"{name}.pth", make_checkpoint(m, "mobilenetv2_fer", {"input_size": size}))
    r = subprocess.run(
        [sys.executable, "tools/ensemble_checkpoints.py", tmp_path / "ens.pth", tmp_path / "small.pth", tmp_path / "large.pth"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    net, spec, state = model_from_checkpoint(tmp_path / "ens.pth")
    assert (
        state["arch"] == "mobilenetv2_fer_ensemble"
        and spec.input_size == 64
        and state["model_kwargs"]["member_sizes"] == [48, 64]
    )
    assert expected.abs().max() > 1
    with torch.no_grad():
        assert torch.allclose(net(x), expected, atol=1e-4)
    onnx_path = add_embedding_output(export_onnx(net, spec, tmp_path / "ens.onnx"))
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    logits, embedding = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    assert embedding.shape == (3, 2560)  # both members' embeddings, side by side
    assert abs(logits - expected.numpy()).max() < 1e-3
    with pytest.raises(CheckpointError, match="an ensemble"):
        checkpoint_from_onnx(onnx_path, None)


@pytest.mark.slow
def test_an_ensemble_of_a_colour_and_a_gray_member_needs_gray(tmp_path):
    """Members of different colour modes are one clear line; --gray feeds every member gray faces."""
    import subprocess
    import sys
    from dataclasses import replace

    from ferlite.models.checkpoint import make_checkpoint, model_from_checkpoint, save_checkpoint

    for name, mode in (("colour", "rgb"), ("gray", "gray2rgb")):
        m = create_model("mobilenetv2_fer", num_classes=3, pretrained=False, input_size=48)
        m.spec = replace(m.spec.with_labels(("happy", "sad", "neutral")), color_mode=mode)
        save_checkpoint(tmp_path / f"{name}.pth", make_checkpoint(m, "mobilenetv2_fer", {"input_size": 48}))
    argv = [sys.executable, "tools/ensemble_checkpoints.py", tmp_path / "ens.pth", tmp_path / "colour.pth", tmp_path / "gray.pth"]
    r = subprocess.run(argv, capture_output=True, text=True)
    assert r.returncode != 0 and "colour modes differ (gray2rgb, rgb): pass --gray" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*argv, "--gray"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert model_from_checkpoint(tmp_path / "ens.pth")[1].color_mode == "gray2rgb"
