"""A sampler for DistributedDataParallel: each rank's share of every global batch, cut from one sequence that every
rank draws alike (see :mod:`ferlite.training.distributed`)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice

from torch.utils.data import Sampler


class RankShardSampler(Sampler[int]):
    """This rank's slice of every global batch of ``base``: from each ``global_batch`` indices the base sampler
    yields, the ``rank``-th of ``world_size`` equal slices; a last, incomplete global batch is dropped.

    Example:
        >>> base = list(range(10))
        >>> list(RankShardSampler(base, global_batch=4, rank=1, world_size=2))
        [2, 3, 6, 7]
    """

    def __init__(self, base, global_batch: int, rank: int, world_size: int) -> None:
        self.base, self.global_batch, self.rank, self.world_size = base, global_batch, rank, world_size
        self.share = global_batch // world_size

    def __iter__(self) -> Iterator[int]:
        it = iter(self.base)
        while True:
            chunk = list(islice(it, self.global_batch))
            if len(chunk) < self.global_batch:
                return
            yield from chunk[self.rank * self.share : (self.rank + 1) * self.share]

    def __len__(self) -> int:
        return (len(self.base) // self.global_batch) * self.share
