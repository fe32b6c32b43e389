"""What the clients and the server share: the model's weights as the arrays Flower sends, the global model, and
the training data, loaded once per process and split into the clients' shares."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...data.partition import partition_indices
from ..config import TrainConfig
from .config import FederateConfig

# --- the model's weights as the list of arrays Flower sends ------------------------------------------------------


def model_arrays(model: Any) -> list[np.ndarray]:
    """The floating-point entries of ``model.state_dict()`` (weights and batch-norm statistics), in order."""
    return [v.detach().cpu().numpy().copy() for v in model.state_dict().values() if v.is_floating_point()]


def set_model_arrays(model: Any, arrays: list[np.ndarray]) -> None:
    """Load arrays from :func:`model_arrays` back into ``model`` (integer entries, batch counters, kept)."""
    import torch

    state = model.state_dict()
    keys = [k for k, v in state.items() if v.is_floating_point()]
    if len(keys) != len(arrays):
        raise ValueError(f"expected {len(keys)} weight arrays, got {len(arrays)}")
    for k, a in zip(keys, arrays):
        value = torch.from_numpy(np.asarray(a, dtype=np.float32)).reshape(state[k].shape)
        if k.endswith("running_var"):  # differential privacy's noise may push a small variance below zero
            value = value.clamp_(min=0.0)
        state[k] = value
    model.load_state_dict(state)


def global_model(train: TrainConfig, classes: tuple[str, ...]) -> Any:
    """The model every client and the server agree on: ``train.init``'s, else from ImageNet weights."""
    import torch

    from ...models.checkpoint import load_checkpoint
    from ..trainer import build_model

    init = load_checkpoint(train.init) if train.init else None
    model, kwargs = build_model(train, classes, init, torch.device("cpu"))
    model.model_kwargs = kwargs
    return model


def save_global(model: Any, train: TrainConfig, path: Path, **meta: Any) -> Path:
    from ...models.checkpoint import make_checkpoint, save_checkpoint

    path.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(path, make_checkpoint(model, train.model, model.model_kwargs, **meta))
    return path


# --- data: loaded once per process, then each client's share ----------------------------------------------------

_DATA_CACHE: dict[str, Any] = {}


def training_data(train: TrainConfig, with_val: bool) -> Any:
    from ..trainer import build_data

    key = json.dumps(
        [train.dataset, train.data_path, train.mixture, train.classes, train.class_balance, train.color_mode, with_val]
    )
    if key not in _DATA_CACHE:
        _DATA_CACHE[key] = build_data(train, with_val=with_val)
    return _DATA_CACHE[key]


def client_data(fed: FederateConfig, train: TrainConfig, partition_id: int) -> Any:
    """Client ``partition_id``'s share of the training set (no validation: the server validates)."""
    data = training_data(train, with_val=False)
    parts = partition_indices(fed.partition, fed.clients, data.train.labels, data.source, fed.seed)
    return data.subset(parts[partition_id])


def limited_domains(domains: dict[str, Any], limit: int, seed: int) -> dict[str, Any]:
    return {k: (v.sample(limit, seed) if limit and len(v) > limit else v) for k, v in domains.items()}
