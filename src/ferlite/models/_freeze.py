"""Freezing parts of a backbone, with their BatchNorm statistics frozen too.

``requires_grad=False`` alone is not enough: in ``train()`` a BatchNorm layer still
updates its running mean/var from each batch, which silently changes a "frozen" backbone.
``freeze_for_mode`` marks frozen BatchNorm layers, and a forward pre-hook keeps them in
eval mode whatever ``model.train()`` says.
"""

from __future__ import annotations

from torch import nn

from ..core.errors import UsageError
from ..core.options import FINETUNE_MODES as MODES


def _keep_eval(module: nn.Module, _inputs) -> None:
    if module.training:
        module.eval()


def freeze_for_mode(model: nn.Module, blocks: nn.Sequential, mode: str, top_blocks: int = 5) -> None:
    """Freeze ``blocks`` for a fine-tuning ``mode``: ``head``, ``top`` or ``full``.

    ``head`` freezes all blocks, ``top`` all but the last ``top_blocks``, ``full`` none.
    The classifier (everything outside ``blocks``) always trains.

    Example:
        >>> freeze_for_mode(model, model.features, "top", top_blocks=3)  # doctest: +SKIP
    """
    if mode not in MODES:
        raise UsageError(f"unknown fine-tuning mode {mode!r}; choose one of {', '.join(MODES)}")
    n_frozen = {"head": len(blocks), "top": max(0, len(blocks) - top_blocks), "full": 0}[mode]
    for i, block in enumerate(blocks):
        frozen = i < n_frozen
        for p in block.parameters():
            p.requires_grad_(not frozen)
        if frozen:
            for m in block.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm) and not getattr(m, "_ferlite_frozen", False):
                    m._ferlite_frozen = True
                    m.register_forward_pre_hook(_keep_eval)
    model.finetune_mode = mode
