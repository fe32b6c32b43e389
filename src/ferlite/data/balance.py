"""Class balancing as the reference study did it: augment minorities up to a target count.

The reference augmented every class to about 1000 samples and dropped classes that
stayed too small (contempt). Here the extra samples are repeats of minority-class
images; because the training transform is random, each repeat is a new augmented view
every epoch. Majority classes can be capped (subsampled) to the same target.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from .readers import FaceDataset

_logger = logging.getLogger(__name__)


@dataclass
class BalancePlan:
    """Which items one epoch draws, and what balancing did.

    Attributes:
        index: item indices into the (class-filtered) dataset; repeats are augmented copies.
        classes: the classes kept (those with at least ``min_count`` real samples).
        before, after: per-class counts.
        dropped: classes removed for having fewer than ``min_count`` samples.
    """

    index: np.ndarray
    classes: tuple[str, ...]
    before: dict[str, int]
    after: dict[str, int]
    dropped: tuple[str, ...]

    def table(self) -> str:
        """The per-class counts before and after, as printable text."""
        rows = [f"{'class':<10} {'before':>7} {'after':>7}"]
        for c, n in self.before.items():
            rows.append(f"{c:<10} {n:>7} {self.after.get(c, 'dropped'):>7}")
        return "\n".join(rows)


def balance_classes(
    labels: np.ndarray,
    classes: tuple[str, ...],
    target: int | None = 1000,
    cap: bool = False,
    min_count: int = 0,
    seed: int = 0,
) -> BalancePlan:
    """Plan a balanced epoch: classes below ``target`` are oversampled up to it.

    Args:
        labels: int labels into ``classes``.
        target: samples per class after balancing; ``None`` leaves counts as they are.
        cap: also subsample classes above ``target`` down to it.
        min_count: drop classes with fewer real samples than this.
        seed: for the random choice of repeats and of the capped subset.

    Example:
        >>> plan = balance_classes(np.array([0, 0, 0, 1]), ("a", "b"), target=3)
        >>> plan.after
        {'a': 3, 'b': 3}
    """
    rng = np.random.default_rng(seed)
    labels = np.asarray(labels)
    before = {c: int((labels == i).sum()) for i, c in enumerate(classes)}
    dropped = tuple(c for c, n in before.items() if n < max(min_count, 1))
    parts = []
    for i, c in enumerate(classes):
        if c in dropped:
            continue
        idx = np.flatnonzero(labels == i)
        if target is not None and len(idx) < target:
            extra = rng.choice(idx, target - len(idx), replace=True)
            idx = np.concatenate([idx, extra])
        elif target is not None and cap and len(idx) > target:
            idx = rng.choice(idx, target, replace=False)
        parts.append(np.sort(idx))
    index = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    kept = tuple(c for c in classes if c not in dropped)
    after = {c: int(len(p)) for c, p in zip(kept, parts)}
    return BalancePlan(index, kept, before, after, dropped)


def apply_balance(ds: FaceDataset, plan: BalancePlan) -> FaceDataset:
    """The dataset one balanced epoch draws from, relabelled to the kept classes.

    Example:
        >>> train = apply_balance(train, balance_classes(train.labels, train.classes, 1000))  # doctest: +SKIP
    """
    return ds.subset(plan.index).select_classes(plan.classes)
