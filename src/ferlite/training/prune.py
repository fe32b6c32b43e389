"""Structured channel pruning of MobileNetV2, then fine-tuning, so the model really gets faster.

Each inverted-residual block widens its input (1x1 expand), filters it depthwise (3x3)
and narrows it again (1x1 project). Its hidden channels can be removed without touching
the residual connections: drop row j of the expand conv, channel j of the depthwise conv
(and both BatchNorms), and column j of the project conv. The result is a plain, smaller
MobileNetV2 whose convolutions are physically narrower, unlike sparse masks, which run
no faster on a CPU.

A hidden channel's importance is its depthwise BatchNorm scale times the norm of its
project weights: how strongly it can reach the block's output. The least important
``ratio`` of each block's hidden channels go (kept widths rounded to multiples of 8,
which vectorised kernels prefer). Example::

    ferlite prune runs/ref5_full/best.pth --ratio 0.3 --epochs 2 --out runs/pruned30
"""

from __future__ import annotations

import copy
import json
import math
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core.errors import UsageError
from ..models.checkpoint import make_checkpoint, model_from_checkpoint, save_checkpoint
from ..models.mobilenetv2 import InvertedResidual, MobileNetV2
from . import TrainConfig, fit


def _keep_count(hidden: int, ratio: float) -> int:
    return max(8, min(hidden, int(math.ceil(hidden * (1 - ratio) / 8) * 8)))


def _select(t: torch.Tensor, keep: torch.Tensor, dim: int) -> nn.Parameter:
    return nn.Parameter(t.detach().index_select(dim, keep).clone())


def _prune_bn(bn: nn.BatchNorm2d, keep: torch.Tensor) -> nn.BatchNorm2d:
    new = nn.BatchNorm2d(len(keep), eps=bn.eps, momentum=bn.momentum)
    new.weight, new.bias = _select(bn.weight, keep, 0), _select(bn.bias, keep, 0)
    new.running_mean.copy_(bn.running_mean[keep])
    new.running_var.copy_(bn.running_var[keep])
    return new


def prune_block(block: InvertedResidual, ratio: float) -> int:
    """Narrow one expand-depthwise-project block in place; returns the kept hidden width."""
    layers = block.conv
    if len(layers) != 4:  # the first block has no expand layer: its hidden width is its input
        return layers[0][0].out_channels
    expand, dw, project = layers[0], layers[1], layers[2]
    hidden = dw[0].out_channels
    importance = dw[1].weight.detach().abs() * project.weight.detach().flatten(1).norm(dim=0)
    keep = importance.argsort(descending=True)[: _keep_count(hidden, ratio)].sort().values
    n = len(keep)
    e_conv = nn.Conv2d(expand[0].in_channels, n, 1, bias=False)
    e_conv.weight = _select(expand[0].weight, keep, 0)
    expand[0], expand[1] = e_conv, _prune_bn(expand[1], keep)
    d_conv = nn.Conv2d(n, n, 3, dw[0].stride, 1, groups=n, bias=False)
    d_conv.weight = _select(dw[0].weight, keep, 0)
    dw[0], dw[1] = d_conv, _prune_bn(dw[1], keep)
    p_conv = nn.Conv2d(n, project.out_channels, 1, bias=False)
    p_conv.weight = _select(project.weight, keep, 1)
    layers[2] = p_conv
    return n


def prune_mobilenetv2(model: MobileNetV2, ratio: float) -> tuple[MobileNetV2, list[int]]:
    """A copy of ``model`` with ``ratio`` of every block's hidden channels removed.

    Returns the pruned model and its per-block hidden widths (for ``hidden_channels=``).

    Example:
        >>> small, widths = prune_mobilenetv2(model, 0.5)  # doctest: +SKIP
    """
    if not isinstance(model, MobileNetV2):
        raise UsageError("structured pruning is implemented for MobileNetV2 models only")
    if not 0 <= ratio < 1:
        raise UsageError(f"--ratio must be in [0, 1), got {ratio}")
    pruned = copy.deepcopy(model)
    widths = [prune_block(b, ratio) for b in pruned.features if isinstance(b, InvertedResidual)]
    return pruned, widths


# The original run's options that its pruned model's fine-tuning keeps (the data and the loss).
KEPT_TRAIN_OPTIONS = (
    "dataset",
    "data_path",
    "classes",
    "per_class",
    "cap",
    "min_count",
    "label_smoothing",
    "seed",
    "soft_targets",
    "mixture",
    "class_balance",
    "epoch_size",
    "workers",
    "threads",
)


def prune_checkpoint(
    checkpoint: str | Path, ratio: float, out: str | Path, epochs: int = 2, lr: float = 2e-4, progress: bool = True
) -> dict[str, Any]:
    """Prune ``ratio`` of each block's hidden channels, save ``out/pruned_init.pth``, then fine-tune it for ``epochs``
    with the original run's data options (``out/best.pth``); the summary is also written to ``out/prune.json``.

    Example:
        >>> prune_checkpoint("runs/ferplus8/best.pth", 0.3, "runs/pruned30", epochs=2)  # doctest: +SKIP
    """
    if not 0 < ratio < 1:
        raise UsageError(f"--ratio must be between 0 and 1 (exclusive), got {ratio}")
    model, spec, state = model_from_checkpoint(checkpoint)
    pruned, widths = prune_mobilenetv2(model, ratio)
    before = sum(p.numel() for p in model.parameters())
    after = sum(p.numel() for p in pruned.parameters())
    out = Path(out)
    kwargs = {**state.get("model_kwargs", {}), "hidden_channels": widths}
    init_path = out / "pruned_init.pth"
    save_checkpoint(init_path, make_checkpoint(pruned, state["arch"], kwargs, pruned_from=str(checkpoint), ratio=ratio))
    print(f"pruned {ratio:.0%} of hidden channels: {before:,} -> {after:,} parameters ({1 - after / before:.1%} fewer)")
    summary: dict[str, Any] = {"ratio": ratio, "params_before": before, "params_after": after, "hidden_channels": widths}
    if epochs > 0:
        original = state.get("args", {})
        kept = {k: original[k] for k in KEPT_TRAIN_OPTIONS if k in original}
        config = TrainConfig(
            **kept,
            model=state["arch"],
            init=str(init_path),
            epochs=epochs,
            lr=lr,
            warmup_epochs=0.0,
            input_size=spec.input_size,
            out=str(out),
            resume=True,
            progress=progress,
        )
        summary["train"] = asdict(fit(config))
    (out / "prune.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    return summary
