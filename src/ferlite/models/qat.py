"""Quantization-aware training: the network trains under the rounding its int8 export will apply.

``ferlite export --int8`` quantizes with ONNX Runtime's static QDQ scheme: per-channel symmetric int8 weights and
per-tensor uint8 activations whose ranges come from calibration faces. A network trained in float loses about a
point of accuracy on RAF-DB and AffectNet val that way (docs/EXPERIMENTS.md). ``simulate_int8`` puts the same rounding
into the training graph (fake quantization with a straight-through gradient, Jacob et al., CVPR 2018), so that the
weights learn to sit where rounding does not hurt; the export then calibrates and quantizes them as before.

Where the rounding goes follows the exported graph: every convolution's and the classifier's weights, and the
activations ONNX Runtime quantizes, i.e. the input, each ReLU6's output, each block's projection output, each
residual sum, the pooled features and the logits. A weight's rounding is taken before BatchNorm: per-channel symmetric
rounding commutes with BatchNorm's per-channel scale, so it equals rounding the folded weight the export stores.

The simulation adds no state to the weights: they are saved under their plain names (``plain_state_dict``), and the
activation ranges, moving averages that the export does not use (it calibrates afresh), are kept apart
(``activation_ranges``), in the resumable checkpoint only: a resumed run, and its EMA copy, round as before the stop.

Example:
    >>> from ferlite.models import create_model
    >>> model = simulate_int8(create_model("mobilenetv2_fer", num_classes=8, pretrained=False, input_size=48))
    >>> model(torch.zeros(2, 3, 48, 48)).shape
    torch.Size([2, 8])
    >>> sorted(plain_state_dict(model)) == sorted(create_model("mobilenetv2_fer", num_classes=8, input_size=48).state_dict())
    True
"""

from __future__ import annotations

import re
from typing import Any

import torch
from torch import nn
from torch.nn.utils import parametrize

# ONNX Runtime's symmetric int8 weights use -127..127 (scale = max |w| / 127); activations are uint8 0..255.
INT8_MAX = 127
UINT8_MAX = 255
_PARAMETRIZED = re.compile(r"\.parametrizations\.(\w+)\.original$")


class Int8Weights(nn.Module):
    """A parametrization: the weight rounded per output channel to symmetric int8, gradients passed straight through."""

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        reduce = tuple(range(1, weight.dim()))
        scale = (weight.detach().abs().amax(dim=reduce).float() / INT8_MAX).clamp_min(1e-12)
        zero = torch.zeros_like(scale, dtype=torch.int32)
        return torch.fake_quantize_per_channel_affine(weight.float(), scale, zero, 0, -INT8_MAX, INT8_MAX).to(weight.dtype)


class Uint8Activations(nn.Module):
    """Per-tensor uint8 rounding of an activation over a moving-average min/max range that always holds zero (as
    ONNX Runtime's minmax calibration). Training updates the range; evaluation uses it.

    Its buffers are floats (so that an EMA copy of the model can average them) and not saved with the weights.
    """

    def __init__(self, momentum: float = 0.01) -> None:
        super().__init__()
        self.momentum = momentum
        self.register_buffer("low", torch.zeros(()), persistent=False)
        self.register_buffer("high", torch.zeros(()), persistent=False)
        self.register_buffer("seen", torch.zeros(()), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            low, high = x.detach().min().float().clamp_max(0), x.detach().max().float().clamp_min(0)
            if self.seen.item() == 0:
                self.low.copy_(low), self.high.copy_(high), self.seen.fill_(1.0)
            else:
                self.low.lerp_(low, self.momentum), self.high.lerp_(high, self.momentum)
        elif self.seen.item() == 0:  # never trained: no range to round to
            return x
        scale = ((self.high - self.low) / UINT8_MAX).clamp_min(1e-8)
        zero = torch.round(-self.low / scale).clamp(0, UINT8_MAX).to(torch.int32)
        return torch.fake_quantize_per_tensor_affine(x.float(), scale, zero, 0, UINT8_MAX).to(x.dtype)


class _RoundOutput(nn.Module):
    """A forward hook that rounds the hooked module's output. A module rather than a closure, so that a deep copy of
    the network (the EMA copy) hooks its own copy of the range."""

    def __init__(self) -> None:
        super().__init__()
        self.activation = Uint8Activations()

    def forward(self, module: nn.Module, args: tuple, output: torch.Tensor) -> torch.Tensor:
        return self.activation(output)


class _RoundInput(nn.Module):
    """A forward pre-hook that rounds the hooked module's input."""

    def __init__(self) -> None:
        super().__init__()
        self.activation = Uint8Activations()

    def forward(self, module: nn.Module, args: tuple) -> tuple:
        return (self.activation(args[0]), *args[1:])


def simulate_int8(model: nn.Module) -> nn.Module:
    """Put the int8 export's rounding into a MobileNetV2 ``model`` (in place; returned). See the module docstring."""
    features, classifier = getattr(model, "features", None), getattr(model, "classifier", None)
    if features is None or classifier is None:
        raise ValueError(f"{type(model).__name__}: quantization-aware training needs a MobileNetV2 (features, classifier)")
    hooks = nn.ModuleList()  # children of the model: they follow train()/eval(), the device and deep copies

    def round_output(module: nn.Module) -> None:
        hook = _RoundOutput()
        module.register_forward_hook(hook)
        hooks.append(hook)

    first = _RoundInput()
    features[0].register_forward_pre_hook(first)
    hooks.append(first)
    for module in list(model.modules()):  # a list: registering parametrizations adds modules
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            parametrize.register_parametrization(module, "weight", Int8Weights())
        elif isinstance(module, nn.ReLU6):
            round_output(module)
        elif hasattr(module, "use_res_connect"):  # an inverted residual block
            round_output(module.conv)  # the projection's output
            if module.use_res_connect:
                round_output(module)  # the residual sum
    pooled = _RoundInput()
    classifier.register_forward_pre_hook(pooled)  # the pooled features
    hooks.append(pooled)
    round_output(classifier)  # the logits
    model.int8_simulation = hooks
    return model


def plain_name(key: str) -> str:
    """A state_dict key without its parametrization: ``features.0.0.parametrizations.weight.original`` ->
    ``features.0.0.weight``; other keys unchanged.

    Example:
        >>> plain_name("features.0.0.parametrizations.weight.original"), plain_name("features.0.1.bias")
        ('features.0.0.weight', 'features.0.1.bias')
    """
    return _PARAMETRIZED.sub(r".\1", key)


def plain_state_dict(model: nn.Module) -> dict[str, Any]:
    """``model.state_dict()`` with each parametrized weight under its plain name (``features.0.0.weight``): the
    float weight, as a model without the simulation stores it."""
    return {plain_name(k): v for k, v in model.state_dict().items()}


def activation_ranges(model: nn.Module) -> dict[str, torch.Tensor]:
    """The simulated activations' learnt ranges (buffers that ``state_dict`` leaves out), by buffer name.

    Example:
        >>> from ferlite.models import create_model
        >>> model = simulate_int8(create_model("mobilenetv2_fer", num_classes=8, pretrained=False, input_size=48))
        >>> ranges = activation_ranges(model)
        >>> sorted(ranges)[:3], float(ranges["int8_simulation.0.activation.seen"])  # the input's: not yet learnt
        (['int8_simulation.0.activation.high', 'int8_simulation.0.activation.low', 'int8_simulation.0.activation.seen'], 0.0)
    """
    return {name: b.detach().clone() for name, b in model.named_buffers() if name.startswith("int8_simulation.")}


def load_activation_ranges(model: nn.Module, ranges: dict[str, torch.Tensor]) -> None:
    """Set the ranges saved by :func:`activation_ranges` into a network of the same shape under the simulation."""
    buffers = {name: b for name, b in model.named_buffers() if name.startswith("int8_simulation.")}
    if set(buffers) != set(ranges):
        raise ValueError(f"the saved activation ranges name {len(ranges)} buffers, the network has {len(buffers)}")
    for name, value in ranges.items():
        buffers[name].copy_(value)


def load_plain_state_dict(model: nn.Module, weights: dict[str, Any]) -> None:
    """Load weights saved by ``plain_state_dict`` (or by a model without the simulation) into ``model``."""
    names = {plain_name(k): k for k in model.state_dict()}
    model.load_state_dict({names.get(k, k): v for k, v in weights.items()})
