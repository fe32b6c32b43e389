"""DistributedDataParallel under ``torchrun``: gloo on CPUs, NCCL on GPUs.

``torchrun --nproc_per_node N -m ferlite train ...`` starts N processes with ``RANK``, ``WORLD_SIZE`` and
``LOCAL_RANK`` in their environment. Each process trains on its share of every global batch (``--batch-size`` is
the global batch), DDP averages the gradients, and only rank 0 prints, validates and writes checkpoints; the others
receive its decisions (best epoch, early stop). Without those variables training is a plain single process.

The shares are cut from one global sequence that every rank draws from the same seeded generator, so N processes
see exactly the batches one process would see with the same global batch: N processes with batch B/N each and one
with batch B make the same update (up to floating-point summation order), BatchNorm statistics aside (each
process normalises over its own share; ``--mode head`` freezes them).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..core.errors import UsageError


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: its rank among ``world_size`` processes and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join the process group that ``torchrun`` set up (if any); the context and this process's device.

    Example:
        >>> init_distributed(torch.device("cpu"))  # outside torchrun
        (DistContext(rank=0, world_size=1, local_rank=0), device(type='cpu'))
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(), device
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        torch.cuda.set_device(local_rank)
        device = torch.device("cuda", local_rank)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistContext(rank, world_size, local_rank), device


def shutdown_distributed(ctx: DistContext) -> None:
    if ctx.distributed and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def per_rank_batch(global_batch: int, ctx: DistContext) -> int:
    """This process's share of the global batch; a UsageError unless the processes divide it evenly."""
    if global_batch % ctx.world_size:
        raise UsageError(f"--batch-size {global_batch} is the global batch: it must divide by the {ctx.world_size} processes")
    return global_batch // ctx.world_size


def broadcast_from_main(value: Any, ctx: DistContext) -> Any:
    """Rank 0's ``value`` on every rank (a picklable Python object)."""
    if not ctx.distributed:
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]
