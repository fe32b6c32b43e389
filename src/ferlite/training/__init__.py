"""Training: ``TrainConfig`` and ``fit``, the loop's parts, checkpoints.

Example::

    from ferlite.training import fit, load_config
    fit(load_config("configs/mixture8_112.toml", epochs=1, out="runs/try"))
"""

from .config import TrainConfig, load_config, read_config
from .fit import TrainResult, fit

__all__ = ["TrainConfig", "TrainResult", "fit", "load_config", "read_config"]
