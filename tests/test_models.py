import pytest
import torch

from ferlite.core.paths import find_shared
from ferlite.models import count_parameters, create_model, list_models
from ferlite.models.mobilenetv2 import MobileNetV2, load_imagenet_weights


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
