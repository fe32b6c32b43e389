"""Splitting a training set among federated clients: ``iid``, ``by-dataset`` or ``dirichlet:ALPHA``.

- ``iid``: a seeded shuffle cut into equal parts; every client sees every source and class.
- ``by-dataset``: one client per source of a mixture (FER2013/FERPlus, RAF-DB, AffectNet are the natural silos:
  different labs, cameras and label habits).
- ``dirichlet:ALPHA``: for every class, its faces are shared among the clients in proportions drawn from a
  symmetric Dirichlet(ALPHA) (Hsu et al., 2019): small ALPHA gives each user a few dominant emotions (non-IID).

Example:
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> [p.tolist() for p in partition_indices("by-dataset", 2, labels, source=np.array([0, 0, 1, 1, 0, 0, 1, 1]))]
    [[0, 1, 4, 5], [2, 3, 6, 7]]
    >>> sorted(len(p) for p in partition_indices("iid", 4, labels))
    [2, 2, 2, 2]
"""

from __future__ import annotations

import numpy as np

from ..core.errors import UsageError

PARTITIONS = ("iid", "by-dataset", "dirichlet:ALPHA")


def parse_partition(spec: str) -> tuple[str, float | None]:
    """``(kind, alpha)`` from ``iid``, ``by-dataset`` or ``dirichlet:ALPHA``; anything else is a UsageError.

    Example:
        >>> parse_partition("dirichlet:0.3")
        ('dirichlet', 0.3)
    """
    if spec in ("iid", "by-dataset"):
        return spec, None
    kind, _, value = spec.partition(":")
    if kind == "dirichlet":
        try:
            alpha = float(value)
        except ValueError:
            alpha = -1.0
        if alpha > 0:
            return kind, alpha
    raise UsageError(f"--partition must be iid, by-dataset or dirichlet:ALPHA (ALPHA above 0), got {spec!r}")


def partition_indices(
    spec: str, clients: int, labels: np.ndarray, source: np.ndarray | None = None, seed: int = 0
) -> list[np.ndarray]:
    """The item indices of each of ``clients`` clients (sorted; together every item exactly once).

    ``source``: each item's source index, needed by ``by-dataset``, which gives one client per source.
    A client left with no items is a UsageError (too many clients for the data, or ALPHA too small).
    """
    kind, alpha = parse_partition(spec)
    if clients < 1:
        raise UsageError(f"--clients must be at least 1, got {clients}")
    rng = np.random.default_rng(seed)
    n = len(labels)
    if kind == "iid":
        parts = np.array_split(rng.permutation(n), clients)
    elif kind == "by-dataset":
        if source is None:
            raise UsageError("--partition by-dataset needs a mixture of datasets (--dataset mixture)")
        sources = np.unique(source)
        if len(sources) != clients:
            raise UsageError(
                f"--partition by-dataset gives one client per dataset: {len(sources)} datasets, so --clients {len(sources)}, not {clients}"
            )
        parts = [np.flatnonzero(source == s) for s in sources]
    else:
        assert alpha is not None
        owned: list[list[np.ndarray]] = [[] for _ in range(clients)]
        for c in np.unique(labels):
            items = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(clients, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(items)).astype(int)
            for k, piece in enumerate(np.split(items, cuts)):
                owned[k].append(piece)
        parts = [np.concatenate(p) for p in owned]
    parts = [np.sort(p) for p in parts]
    empty = [k for k, p in enumerate(parts) if len(p) == 0]
    if empty:
        raise UsageError(f"--partition {spec}: client {empty[0]} gets no faces; use fewer clients or a larger ALPHA")
    return parts
