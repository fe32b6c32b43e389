"""Several face datasets as one training set, each drawn with its own weight.

FER2013's 48 px web crops alone make a model that sends in-the-wild faces to "neutral". A mixture trains on
FERPlus, RAF-DB and AffectNet together, in the one 8-class taxonomy: FER2013 faces keep FERPlus's vote
distributions as soft targets, the others get one-hot targets. Sources differ in size (28k, 11k, 12k faces), so
each source is drawn with its declared share of every epoch, not in proportion to its size.

Inside a source, ``class_balance`` evens out the classes: an item of class ``c`` is drawn with a weight
proportional to ``n_c ** -class_balance`` (0: as the source has them; 1: every class equally often; 0.5: the
square root in between), so contempt and disgust are seen often without repeating their few faces endlessly.

Example::

    sources = parse_mixture("ferplus:0.3,rafdb:0.4,affectnet:0.3")
    mixed = build_mixture(sources, "train", PRESETS["ferplus8"])
    weights = mixed.sampling_weights(class_balance=0.5)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.errors import UsageError
from .readers import FaceDataset
from .sources import load_dataset


@dataclass(frozen=True)
class MixtureSource:
    """One dataset of a mixture and its share of each epoch."""

    dataset: str
    weight: float


def parse_mixture(spec: str) -> tuple[MixtureSource, ...]:
    """``"ferplus:0.3,rafdb:0.4,affectnet:0.3"`` -> sources; weights are normalised to sum to 1.

    Example:
        >>> [(s.dataset, s.weight) for s in parse_mixture("ferplus:1,rafdb:3")]
        [('ferplus', 0.25), ('rafdb', 0.75)]
    """
    from .sources import DATASETS

    sources = []
    for part in (p.strip() for p in str(spec).split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        name = name.strip()
        if name not in DATASETS or name in ("mixture", "folder", "cew"):
            raise UsageError(f"--mixture: unknown source {name!r}; use fer2013, ferplus, rafdb or affectnet")
        try:
            w = float(weight) if weight else 1.0
        except ValueError:
            raise UsageError(f"--mixture: weight {weight!r} of {name} is not a number") from None
        if not w > 0:
            raise UsageError(f"--mixture: weight of {name} must be above 0, got {weight}")
        sources.append((name, w))
    if not sources:
        raise UsageError("--mixture: name at least one source, e.g. ferplus:0.3,rafdb:0.4,affectnet:0.3")
    if len({n for n, _ in sources}) != len(sources):
        raise UsageError(f"--mixture: a source is listed twice in {spec!r}")
    total = sum(w for _, w in sources)
    return tuple(MixtureSource(n, w / total) for n, w in sources)


@dataclass
class MixedFaces:
    """The faces of all sources, with soft targets over one class list and the source of each item.

    Attributes:
        data: every face; ``data.soft_labels`` holds each item's target distribution over ``data.classes``.
        source: int (N,) index into ``sources``.
        sources: the mixture, weights summing to 1.
    """

    data: FaceDataset
    source: np.ndarray
    sources: tuple[MixtureSource, ...]

    def sampling_weights(self, class_balance: float = 0.0) -> np.ndarray:
        """Per-item draw probabilities (sum 1): each source gets its weight, spread over its classes by
        ``n_c ** -class_balance`` (see the module docstring).

        Example:
            >>> mixed = MixedFaces(FaceDataset(np.zeros((4, 8, 8), np.uint8), [0, 0, 0, 1], ("a", "b")),
            ...                    np.array([0, 0, 0, 0]), (MixtureSource("x", 1.0),))
            >>> mixed.sampling_weights(class_balance=1.0).round(3).tolist()
            [0.167, 0.167, 0.167, 0.5]
        """
        if not 0 <= class_balance <= 1:
            raise UsageError(f"--class-balance must be between 0 and 1, got {class_balance}")
        weights = np.zeros(len(self.data), np.float64)
        for s, src in enumerate(self.sources):
            items = np.flatnonzero(self.source == s)
            counts = np.bincount(self.data.labels[items], minlength=len(self.data.classes)).astype(np.float64)
            w = np.maximum(counts, 1)[self.data.labels[items]] ** -class_balance
            weights[items] = src.weight * w / w.sum()
        return weights / weights.sum()

    def shares(self, weights: np.ndarray) -> dict[str, dict[str, float]]:
        """Expected share of each source and each class in a draw with ``weights``."""
        by_source = {s.dataset: float(weights[self.source == i].sum()) for i, s in enumerate(self.sources)}
        by_class = {c: float(weights[self.data.labels == k].sum()) for k, c in enumerate(self.data.classes)}
        return {"source": by_source, "class": by_class}


def build_mixture(
    sources: tuple[MixtureSource, ...], split: str, classes: tuple[str, ...], strict: bool = False, color: bool = False
) -> MixedFaces:
    """Load ``split`` of every source and map it onto ``classes`` (e.g. ``PRESETS["ferplus8"]``).

    ``color`` keeps the colour sources' faces in BGR (for ``rgb`` models); the gray sources' stay gray.

    FERPlus items keep their vote distributions (restricted to ``classes``); other items get one-hot targets.
    A source's class missing from ``classes`` is an error (nothing is dropped silently).

    Example:
        >>> mixed = build_mixture(parse_mixture("rafdb:1"), "val", PRESETS["ferplus8"])  # doctest: +SKIP
        >>> mixed.data.soft_labels.shape  # doctest: +SKIP
        (1228, 8)
    """
    images: list[np.ndarray] = []
    labels, soft, ids, source = [], [], [], []
    skipped = 0
    for s, src in enumerate(sources):
        ds = load_dataset(src.dataset, split, strict=strict, color=color)
        missing = [c for c in ds.classes if c not in classes]
        if missing:
            raise UsageError(f"--mixture: {src.dataset} has classes {', '.join(missing)} that the model's classes lack")
        columns = np.array([classes.index(c) for c in ds.classes])
        labels.append(columns[ds.labels])
        target = np.zeros((len(ds), len(classes)), np.float32)
        if ds.soft_labels is not None:
            target[:, columns] = ds.soft_labels
        else:
            target[np.arange(len(ds)), columns[ds.labels]] = 1.0
        soft.append(target)
        images += list(ds.images)
        ids += [f"{src.dataset}:{i}" for i in ds.ids]
        source.append(np.full(len(ds), s, np.int64))
        skipped += ds.skipped
    data = FaceDataset(images, np.concatenate(labels), tuple(classes), ids, np.concatenate(soft), skipped)
    return MixedFaces(data, np.concatenate(source), tuple(sources))
