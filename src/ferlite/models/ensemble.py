"""Several trained MobileNetV2s, each at its own input size, as one network: an ensemble that exports, quantizes,
calibrates and runs like any single model.

The members' logits are averaged. That average is written as one linear layer over the members' concatenated
embeddings (their classifiers' weights side by side, each divided by the number of members), so the network keeps
the single final classifier that the rest of ferlite expects: the ONNX export's ``embedding`` output (the
concatenated embeddings) and on-device personalization work unchanged. The network takes faces at its largest
member's size; a smaller member sees them resized inside the graph.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from ..core.errors import UsageError
from ..core.spec import IMAGENET_MEAN, IMAGENET_STD, ModelSpec
from ._registry import register_model
from .mobilenetv2 import MobileNetV2


def at_input_size(x: torch.Tensor, size: int, side: int | None = None) -> torch.Tensor:
    """A batch as a network of input ``size`` takes it: resized (bilinear) unless its ``side`` (default: its width)
    is that size already. Serves the ensemble's members and distillation's teachers alike.

    Example:
        >>> at_input_size(torch.zeros(2, 3, 160, 160), 112).shape
        torch.Size([2, 3, 112, 112])
    """
    side = x.shape[-1] if side is None else side
    return x if side == size else nn.functional.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


class EnsembleNet(nn.Module):
    """MobileNetV2 members at their own input sizes; logits: ``classifier(concat(embeddings))``, the mean of theirs.

    Example:
        >>> net = mobilenetv2_fer_ensemble(num_classes=8, member_sizes=(112, 160), input_size=160).eval()
        >>> net(torch.zeros(2, 3, 160, 160)).shape, net.num_features
        (torch.Size([2, 8]), 2560)
    """

    def __init__(self, members: list[MobileNetV2], member_sizes: list[int], num_classes: int) -> None:
        super().__init__()
        if len(members) != len(member_sizes) or len(members) < 2:
            raise ValueError(f"an ensemble needs 2 or more members, each with an input size (got {len(members)}, {member_sizes})")
        for m in members:
            m.classifier = nn.Identity()  # the ensemble's classifier replaces theirs
        self.members = nn.ModuleList(members)
        self.member_sizes = [int(s) for s in member_sizes]
        self.num_features = sum(m.num_features for m in members)
        self.classifier = nn.Sequential(nn.Dropout(0.0), nn.Linear(self.num_features, num_classes))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        # While the ONNX export traces the network its input has the spec's fixed size: reading it from the spec keeps
        # the comparison in Python (the traced shape is a tensor, and comparing it would warn of a frozen branch).
        side = self.spec.input_size if torch.jit.is_tracing() else x.shape[-1]
        embeddings = [
            member.forward_head(member.forward_features(at_input_size(x, size, side)), pre_logits=True)
            for member, size in zip(self.members, self.member_sizes)
        ]
        return torch.cat(embeddings, 1)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return x if pre_logits else self.classifier(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def get_classifier(self) -> nn.Linear:
        return self.classifier[1]


@register_model
def mobilenetv2_fer_ensemble(
    num_classes: int = 8,
    pretrained: bool | str = False,
    member_sizes: tuple[int, ...] | list[int] = (112, 160),
    input_size: int | None = None,
    member_hidden_channels: list[list[int] | None] | None = None,
    **_: object,
) -> EnsembleNet:
    """An untrained :class:`EnsembleNet` of MobileNetV2s (the weights come from a checkpoint written by
    :func:`ensemble_of`); ``input_size`` defaults to the largest member's.

    Example:
        >>> mobilenetv2_fer_ensemble(num_classes=7, member_sizes=[96, 112]).spec.input_size
        112
    """
    if pretrained:
        raise UsageError(
            "an ensemble is built from trained members (ferlite.models.ensemble.ensemble_of), not pretrained weights"
        )
    hidden = member_hidden_channels or [None] * len(member_sizes)
    members = [MobileNetV2(num_classes=num_classes, hidden_channels=h) for h in hidden]
    net = EnsembleNet(members, list(member_sizes), num_classes)
    net.spec = ModelSpec(
        input_size=input_size or max(member_sizes), mean=IMAGENET_MEAN, std=IMAGENET_STD, classifier="classifier.1"
    )
    return net


def ensemble_of(models: list[nn.Module], hidden_channels: list[list[int] | None] | None = None) -> tuple[EnsembleNet, dict]:
    """The ensemble of trained MobileNetV2s (each with its ``spec``), and the keyword arguments that rebuild it
    (``hidden_channels``: each member's, for channel-pruned members). The members become the ensemble's: their
    classifiers are replaced by one layer whose logits are the mean of theirs. They must share classes,
    normalisation and colour mode (a ValueError names what differs).

    Example:
        >>> from ferlite.models import create_model
        >>> a = create_model("mobilenetv2_fer", num_classes=3, input_size=96).eval()
        >>> b = create_model("mobilenetv2_fer", num_classes=3, input_size=112).eval()
        >>> a.spec, b.spec = a.spec.with_labels(("x", "y", "z")), b.spec.with_labels(("x", "y", "z"))
        >>> x = torch.rand(1, 3, 112, 112)
        >>> mean = (a(nn.functional.interpolate(x, size=(96, 96), mode="bilinear")) + b(x)) / 2
        >>> net, kwargs = ensemble_of([a, b])
        >>> kwargs["member_sizes"], bool(torch.allclose(net.eval()(x), mean, atol=1e-5))
        ([96, 112], True)
    """
    first = models[0].spec
    shared = {
        "classes": lambda s: tuple(s.labels),
        "normalisations": lambda s: (s.mean, s.std),
        "colour modes": lambda s: s.color_mode,
    }
    for what, of in shared.items():
        values = {of(m.spec) for m in models}
        if len(values) > 1:
            raise ValueError(f"the members' {what} differ ({', '.join(sorted(map(str, values)))})")
    heads = [m.get_classifier() for m in models]
    weight = torch.cat([h.weight.detach() for h in heads], 1) / len(models)
    bias = torch.stack([h.bias.detach() for h in heads]).mean(0)
    sizes = [m.spec.input_size for m in models]
    hidden = hidden_channels or [None] * len(models)
    net = EnsembleNet(list(models), sizes, len(first.labels))
    with torch.no_grad():
        net.classifier[1].weight.copy_(weight)
        net.classifier[1].bias.copy_(bias)
    net.spec = replace(first, arch="mobilenetv2_fer_ensemble", input_size=max(sizes))
    kwargs = {"member_sizes": sizes}
    if any(h is not None for h in hidden):
        kwargs["member_hidden_channels"] = hidden
    return net, kwargs
