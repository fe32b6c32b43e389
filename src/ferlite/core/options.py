"""Command-line option types and the data options, declared once for every command that reads faces.

Torch-free: the runtime commands use the same types as the training ones.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Callable
from typing import Any


def _number(kind: type, low: float | None, high: float | None, low_open: bool, what: str):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {'an integer' if kind is int else 'a number'}") from None
        if (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"{text} is out of range: {what}")
        return value

    return parse


# Option types that refuse impossible values with one clear line, before anything runs.
positive_int = _number(int, 1, None, False, "it must be at least 1")
non_negative_int = _number(int, 0, None, False, "it must be 0 or more")
non_negative_float = _number(float, 0, None, False, "it must be 0 or more")
unit_interval = _number(float, 0, 1, True, "it must be above 0 and at most 1")
port_number = _number(int, 1, 65535, False, "a TCP port is 1 to 65535")

# How much of a pretrained network trains: the head only, the top blocks too, or all of it.
FINETUNE_MODES = ("head", "top", "full")

# The data options' help, shared by train, evaluate, export, from-onnx and study.
DATA_HELP = {
    "dataset": "fer2013, ferplus, ferplus-majority, rafdb, affectnet, folder, cew (eye patches) or mixture (train and "
    "export: the sources of --mixture)",
    "data_path": "dataset file or folder (default: the shared file of --dataset)",
    "classes": "a preset (ref5, fer7, ferplus8) or a comma list (default: all of the dataset's)",
    "strict": "stop at the first corrupt row or image instead of skipping and counting it",
    "val_fraction": "held-out fraction for folder datasets",
    "seed": "random seed (draws, splits of folder datasets, training)",
}


def add_data_args(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    dataset: str = "fer2013",
    classes: str | None = None,
    names: tuple[str, ...] = ("dataset", "data_path", "classes", "strict"),
) -> None:
    """Add the data options ``names`` to ``parser``, with the same meaning and help everywhere.

    Example:
        >>> p = argparse.ArgumentParser()
        >>> add_data_args(p, dataset="ferplus")
        >>> p.parse_args([]).dataset
        'ferplus'
    """
    specs: dict[str, dict[str, Any]] = {
        "dataset": dict(default=dataset),
        "data_path": dict(default=None),
        "classes": dict(default=classes),
        "strict": dict(action=argparse.BooleanOptionalAction, default=False),
        "val_fraction": dict(type=float, default=0.15),
        "seed": dict(type=int, default=0),
    }
    for name in names:
        parser.add_argument("--" + name.replace("_", "-"), help=DATA_HELP[name], **specs[name])


def call_with_options(function: Callable[..., Any], args: argparse.Namespace) -> Any:
    """Call a library function with the parsed options its parameters name (the thin commands' one call).

    Example:
        >>> def scale(value: float, factor: float = 2.0) -> float:
        ...     return value * factor
        >>> call_with_options(scale, argparse.Namespace(value=3.0, factor=0.5, verbose=True))
        1.5
    """
    names = inspect.signature(function).parameters
    return function(**{name: getattr(args, name) for name in names if hasattr(args, name)})
