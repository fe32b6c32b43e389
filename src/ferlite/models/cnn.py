"""The reference study's small custom CNN, trained from scratch as a baseline.

Two conv layers (32 and 64 filters), each followed by ReLU and 2x2 max-pooling, then
flatten and a fully connected classifier, exactly the shape the reference describes.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core.errors import UsageError
from ..core.spec import UNIT_MEAN, UNIT_STD, ModelSpec
from ._registry import register_model


class SmallCNN(nn.Module):
    """conv32 -> pool -> conv64 -> pool -> flatten -> fc(hidden) -> fc(N).

    Args:
        num_classes: number of outputs.
        input_size: square input side; fixes the flatten width.
        hidden: width of the hidden fully connected layer.

    Example:
        >>> SmallCNN(num_classes=5, input_size=48)(torch.zeros(1, 3, 48, 48)).shape
        torch.Size([1, 5])
    """

    def __init__(self, num_classes: int = 7, input_size: int = 224, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        flat = 64 * (input_size // 4) ** 2
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(flat, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


@register_model
def cnn_small(num_classes: int = 7, pretrained: bool | str = False, input_size: int = 224, **_: object) -> SmallCNN:
    """The reference's custom CNN. It has no pretrained weights.

    Example:
        >>> cnn_small(num_classes=5, input_size=48).spec.input_size
        48
    """
    if pretrained:
        raise UsageError("cnn_small has no pretrained weights; it is trained from scratch")
    model = SmallCNN(num_classes=num_classes, input_size=input_size)
    model.spec = ModelSpec(input_size=input_size, mean=UNIT_MEAN, std=UNIT_STD, classifier="classifier.4")
    model.finetune_mode = "full"
    return model
