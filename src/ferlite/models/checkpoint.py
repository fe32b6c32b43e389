"""Checkpoints: everything needed to rebuild a model and its preprocessing, safely loadable.

A checkpoint is a plain dict of tensors and JSON-like values, so it loads with
``torch.load(weights_only=True)``: no arbitrary objects are unpickled. Writes go to a
temporary file first and are renamed into place, so an interrupted save never leaves a
truncated checkpoint behind.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import CheckpointError
from ..core.spec import ModelSpec
from ..core.taxonomy import subset_columns
from . import create_model
from .qat import plain_state_dict

# 2: the model spec under "spec" (format 1 stored it as "cfg", with label_names; still read).
FORMAT_VERSION = 2


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Atomically write ``state`` (a dict of tensors and plain values) to ``path``.

    Example:
        >>> save_checkpoint("runs/x/best.pth", make_checkpoint(model, "mobilenetv2_fer", {}))  # doctest: +SKIP
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A run killed mid-write (SIGKILL at a session's end) leaves its temporary file behind; the next save clears it.
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        stale.unlink(missing_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes it owner-only; a checkpoint is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def make_checkpoint(model: nn.Module, arch: str, model_kwargs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """The model part of a checkpoint: weights, architecture, constructor kwargs and the model spec."""
    return {
        "format_version": FORMAT_VERSION,
        "arch": arch,
        "model_kwargs": dict(model_kwargs),
        "spec": replace(model.spec, arch=arch).to_dict(),
        "model": plain_state_dict(model),  # quantization-aware training's weights under their plain names
        **extra,
    }


def keep_classes(
    state: dict[str, Any], classes: Sequence[str], new_rows: dict[str, torch.Tensor] | None = None
) -> dict[str, torch.Tensor]:
    """The weights of checkpoint ``state`` for ``classes``: each class the checkpoint has keeps its classifier row.

    This is how a 5-class model starts from a 7-class one: every weight is reused, and each kept class keeps its
    own output row, so the new model predicts exactly what the old one did among those classes. Classes the
    checkpoint lacks (a 7-class model started from a 5-class one) take their rows from ``new_rows``, the freshly
    initialized state_dict of the new model.

    Example:
        >>> weights = keep_classes(load_checkpoint("runs/fer7/best.pth"), PRESETS["ref5"])  # doctest: +SKIP
    """
    spec = ModelSpec.from_dict(state["spec"])
    weights = dict(state["model"])
    names = list(spec.labels)
    if new_rows is None:
        subset_columns(names, classes)  # raises, naming any class the checkpoint lacks
    for name in (f"{spec.classifier}.weight", f"{spec.classifier}.bias"):
        rows = [weights[name][names.index(c)] if c in names else new_rows[name][i] for i, c in enumerate(classes)]
        weights[name] = torch.stack(rows)  # a new tensor: the checkpoint is untouched
    return weights


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; a bad file gets a clear error.

    Raises:
        CheckpointError: naming the file and the problem.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable ferlite checkpoint ({type(e).__name__}: {str(e)[:200]})") from None
    if isinstance(state, dict) and "spec" not in state and "cfg" in state:
        state["spec"] = state.pop("cfg")  # written before the model spec existed (format 1)
    if not isinstance(state, dict) or "arch" not in state or "model" not in state or "spec" not in state:
        raise CheckpointError(f"{path}: not a ferlite checkpoint (a dict with arch, model and spec)")
    spec = state["spec"]
    missing = [k for k in ("input_size", "mean", "std") if not isinstance(spec, dict) or k not in spec]
    if missing or not ("labels" in spec or "label_names" in spec):
        lacks = ", ".join(missing or ["labels"])
        raise CheckpointError(f"{path}: its model spec lacks {lacks}; not a complete ferlite checkpoint")
    try:
        parsed = ModelSpec.from_dict(spec)
    except (KeyError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: its model spec is garbled ({e})") from None
    problem = parsed.problem()
    if problem:
        raise CheckpointError(f"{path}: its model spec is inconsistent: {problem}")
    state["spec"] = replace(parsed, arch=parsed.arch or str(state["arch"])).to_dict()
    return state


def model_from_checkpoint(path: str | Path) -> tuple[nn.Module, ModelSpec, dict[str, Any]]:
    """Rebuild the model of a checkpoint, in eval mode, with its model spec.

    Example:
        >>> model, spec, ckpt = model_from_checkpoint("runs/ref5/best.pth")  # doctest: +SKIP
        >>> spec.labels  # doctest: +SKIP
        ('angry', 'happy', 'neutral', 'sad', 'surprise')
    """
    state = load_checkpoint(path)
    spec = ModelSpec.from_dict(state["spec"])
    kwargs = dict(state.get("model_kwargs", {}))
    kwargs.pop("pretrained", None)
    kwargs["input_size"] = spec.input_size
    try:
        model = create_model(state["arch"], num_classes=len(spec.labels), pretrained=False, **kwargs)
        model.load_state_dict(state["model"])
    except (RuntimeError, ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: weights do not fit {state['arch']} ({str(e)[:300]})") from None
    model.spec = spec
    model.eval()
    return model, spec, state
