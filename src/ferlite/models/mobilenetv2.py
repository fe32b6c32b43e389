"""MobileNetV2 in plain torch, with torchvision's module names.

torchvision cannot be imported on CPU-only machines here, but its layout is kept key for
key (``features.0.0.weight`` ... ``classifier.1.bias``), so official torchvision ImageNet
state_dicts, and ``shared/weights/mobilenet_v2_imagenet.pth``, load unchanged.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from ..core.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from ._freeze import freeze_for_mode
from ._registry import register_model

_logger = logging.getLogger(__name__)

# (expansion t, output channels c, repeats n, first stride s), from the MobileNetV2 paper.
_INVERTED_RESIDUAL_SETTING = [
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
]


class Conv2dNormActivation(nn.Sequential):
    """Conv -> BatchNorm -> ReLU6, indexed 0/1/2 like torchvision's block."""

    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int, hidden: int | None = None):
        super().__init__()
        # ``hidden`` overrides cin * expand_ratio: structured pruning narrows the expanded layer.
        hidden = hidden or cin * expand_ratio
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(Conv2dNormActivation(cin, hidden, kernel=1))
        layers += [
            Conv2dNormActivation(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, 1, 0, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)
        self.out_channels = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0) with a replaceable classifier.

    Args:
        num_classes: size of the output layer.
        dropout: dropout before the classifier.
        hidden_channels: expanded width of each inverted-residual block (17 values), for
            channel-pruned models; default: the standard widths.

    Example:
        >>> m = MobileNetV2(num_classes=5)
        >>> m(torch.zeros(2, 3, 96, 96)).shape
        torch.Size([2, 5])
    """

    def __init__(self, num_classes: int = 1000, dropout: float = 0.2, hidden_channels: list[int] | None = None):
        super().__init__()
        cin = 32
        features: list[nn.Module] = [Conv2dNormActivation(3, cin, stride=2)]
        widths = iter(hidden_channels or [])
        for t, c, n, s in _INVERTED_RESIDUAL_SETTING:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t, next(widths, None)))
                cin = c
        self.num_features = 1280
        features.append(Conv2dNormActivation(cin, self.num_features, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(self.num_features, num_classes))
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(x, 1).flatten(1)
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        return self.classifier[1]

    def reset_classifier(self, num_classes: int) -> None:
        self.classifier[1] = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(self.classifier[1].weight, 0, 0.01)
        nn.init.zeros_(self.classifier[1].bias)


def load_imagenet_weights(model: MobileNetV2, path: str | Path) -> None:
    """Load an ImageNet state_dict with torchvision's key names, dropping the 1000-way head.

    A ferlite checkpoint of a MobileNetV2 also works (its ``model`` weights are used, its classifier
    dropped): a backbone already tuned to faces is a better start for a new class set than ImageNet.

    Example:
        >>> load_imagenet_weights(model, "shared/weights/mobilenet_v2_imagenet.pth")  # doctest: +SKIP
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ImageNet weights not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated or foreign file
        raise ValueError(f"{path}: not a loadable PyTorch state_dict ({e})") from None
    if isinstance(state, dict) and "arch" in state and isinstance(state.get("model"), dict):
        state = state["model"]  # a ferlite checkpoint
    state = {k: v for k, v in state.items() if not k.startswith("classifier.")}
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("classifier.")]
    if missing or unexpected:
        raise ValueError(f"{path}: not a torchvision MobileNetV2 state_dict (missing {missing[:3]}, unexpected {unexpected[:3]})")
    _logger.info("loaded ImageNet weights from %s", path)


@register_model
def mobilenetv2_fer(
    num_classes: int = 7,
    pretrained: bool | str = False,
    mode: str = "full",
    top_blocks: int = 5,
    input_size: int = 224,
    dropout: float = 0.2,
    hidden_channels: list[int] | None = None,
    **_: object,
) -> MobileNetV2:
    """MobileNetV2 for facial emotions: ImageNet backbone, new N-way classifier.

    Args:
        num_classes: number of emotion classes.
        pretrained: ``True`` for the shared ImageNet weights, a path for another file,
            ``False`` for random initialisation.
        mode: ``"head"`` (frozen backbone), ``"top"`` (last ``top_blocks`` feature blocks
            plus the head) or ``"full"``. Frozen BatchNorm layers keep their statistics.
        top_blocks: how many of the 19 feature blocks ``"top"`` trains.
        input_size: side of the square input; recorded in ``model.spec``.
        hidden_channels: per-block expanded widths of a channel-pruned model.

    Example:
        >>> m = mobilenetv2_fer(num_classes=5, mode="head")
        >>> sum(p.requires_grad for p in m.parameters())
        2
    """
    model = MobileNetV2(num_classes=num_classes, dropout=dropout, hidden_channels=hidden_channels)
    if pretrained:
        if pretrained is True:
            from ..core.paths import find_shared

            pretrained = find_shared("weights/mobilenet_v2_imagenet.pth")
        load_imagenet_weights(model, pretrained)
    model.spec = ModelSpec(input_size=input_size, mean=IMAGENET_MEAN, std=IMAGENET_STD, classifier="classifier.1")
    freeze_for_mode(model, model.features, mode, top_blocks)
    return model
