"""PyTorch datasets and loaders over a :class:`FaceDataset` (training side only)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler, SequentialSampler, WeightedRandomSampler

from .readers import FaceDataset
from .sampler import RankShardSampler


class TorchFaceDataset(Dataset):
    """Yields ``(image tensor, target)``; the target is the class index, or the soft
    target distribution when ``soft=True`` and the dataset has one."""

    def __init__(self, ds: FaceDataset, transform: Callable[[np.ndarray], np.ndarray], soft: bool = False) -> None:
        if soft and ds.soft_labels is None:
            raise ValueError("soft targets asked for, but this dataset has no vote distributions")
        self.ds, self.transform, self.soft = ds, transform, soft

    def __len__(self) -> int:
        return len(self.ds)

    def __getitem__(self, i: int):
        x = torch.from_numpy(self.transform(self.ds.images[i]))
        if self.soft:
            return x, torch.from_numpy(self.ds.soft_labels[i].astype(np.float32))
        return x, int(self.ds.labels[i])


def _seed_worker(_worker_id: int) -> None:
    # Forked workers inherit one augmentation RNG state; without reseeding every
    # worker would produce the same "random" augmentations.
    info = torch.utils.data.get_worker_info()
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    transform = getattr(info.dataset.transform, "transform", None)
    if transform is not None and hasattr(transform, "set_random_seed"):
        transform.set_random_seed(seed)


def make_loader(
    ds: FaceDataset,
    transform: Callable[[np.ndarray], np.ndarray],
    batch_size: int,
    shuffle: bool,
    workers: int,
    seed: int = 0,
    soft: bool = False,
    sample_weights: np.ndarray | None = None,
    samples_per_epoch: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader with reproducible shuffling and per-worker augmentation seeds.

    With ``sample_weights`` (one per item, e.g. :meth:`ferlite.data.mixture.MixedFaces.sampling_weights`), each
    epoch draws ``samples_per_epoch`` items (default: the dataset's size) with replacement in those proportions,
    from the same seeded generator as the shuffle.

    With ``world_size`` > 1 (DistributedDataParallel), ``batch_size`` is the global batch and this loader yields rank
    ``rank``'s slice of each global batch (:class:`ferlite.data.sampler.RankShardSampler`).

    Example:
        >>> loader = make_loader(train, ClassificationPresetTrain(cfg), 64, True, workers=1)  # doctest: +SKIP
    """
    generator = torch.Generator().manual_seed(seed)
    sampler = None
    if sample_weights is not None:
        if len(sample_weights) != len(ds):
            raise ValueError(f"{len(sample_weights)} sample weights for {len(ds)} items")
        sampler = WeightedRandomSampler(
            torch.as_tensor(sample_weights, dtype=torch.double),
            samples_per_epoch or len(ds),
            replacement=True,
            generator=generator,
        )
        shuffle = False
    if world_size > 1:
        if sampler is None:
            sampler = RandomSampler(ds, generator=generator) if shuffle else SequentialSampler(ds)
        sampler = RankShardSampler(sampler, batch_size, rank, world_size)
        batch_size, shuffle = batch_size // world_size, False
    return DataLoader(
        TorchFaceDataset(ds, transform, soft=soft),
        batch_size=batch_size,
        shuffle=shuffle,
        sampler=sampler,
        num_workers=workers,
        worker_init_fn=_seed_worker,
        generator=generator,
        # Workers start afresh each epoch, seeded from the generator the training loop reseeds per epoch, so that an
        # epoch's augmentations do not depend on the epochs before it (a resumed run repeats an uninterrupted one).
        persistent_workers=False,
        drop_last=(shuffle or (sampler is not None and world_size == 1)) and len(ds) > batch_size,
    )
