"""Emotion classifiers: a registry of architectures and one ``create_model`` entry point."""

from __future__ import annotations

from dataclasses import replace

from torch import nn

from . import cnn, ensemble, mobilenetv2  # noqa: F401  (registers the models)
from ._freeze import MODES
from ._registry import list_models, model_entrypoint, register_model

__all__ = ["MODES", "create_model", "list_models", "register_model", "count_parameters"]


def create_model(name: str, num_classes: int, pretrained: bool | str = False, **kwargs) -> nn.Module:
    """Build a registered model; ``None`` kwargs are dropped so each model keeps its defaults.

    The returned module carries ``spec`` (a :class:`ferlite.core.spec.ModelSpec`) describing its input and outputs.

    Example:
        >>> m = create_model("mobilenetv2_fer", num_classes=5, pretrained=False, input_size=96)
        >>> m.spec.input_size
        96
    """
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    model = model_entrypoint(name)(num_classes=num_classes, pretrained=pretrained, **kwargs)
    model.spec = replace(model.spec, arch=name)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
