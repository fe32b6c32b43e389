"""Training: ``TrainConfig`` and ``fit``, the loop's parts, checkpoints.

Example::

    from ferlite.training import fit, load_config
    fit(load_config("configs/mixture8_112.toml", epochs=1, out="runs/try"))
"""

from __future__ import annotations

from typing import Any

from .config import TrainConfig, load_config, read_config

__all__ = ["TrainConfig", "TrainResult", "fit", "load_config", "read_config"]


def __getattr__(name: str) -> Any:
    # The trainer brings torch and the evaluators: it loads on first use, so that reading a config stays light.
    if name in ("fit", "TrainResult"):
        from . import trainer

        return getattr(trainer, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
