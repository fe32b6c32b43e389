"""Offline distillation: each mixture source's training faces scored once by the teacher that is best on that source.

Online distillation (``--teacher``) runs its teachers on every augmented batch: one teacher set for every source, and
on 2 CPU cores a 160 or 224 px teacher costs more than the student's own step. A mixture's sources have different
experts, though: the FERPlus 224 px model reads FER2013's 48 px crops best (FERPlus PrivateTest 88.5%, majority
rule) and the in-the-wild ensemble reads RAF-DB and AffectNet best. Here each source's faces are scored once, on the
clean face with the teacher's own runtime preprocessing (ONNX Runtime, int8 files), and the probabilities are stored
by item id; ``--teacher-targets FILE`` then blends them into the training targets with weight ``--distill-alpha``
(the targets of mixup and CutMix mix with them).

Example:
    >>> mixed = build_mixture(parse_mixture("ferplus:1,rafdb:1"), "train", PRESETS["ferplus8"])  # doctest: +SKIP
    >>> probs = teacher_probabilities(mixed, {"ferplus": "models/ferplus8_224_full.int8.onnx",
    ...                                       "rafdb": "src/ferlite/assets/emotion_accurate.int8.onnx"})  # doctest: +SKIP
    >>> write_teacher_targets("runs/targets.npz", mixed.data.ids, probs, mixed.data.classes, "...")  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from ..core.errors import CheckpointError, UsageError
from ..data import DataError, FaceDataset
from ..data.mixture import MixedFaces


def parse_source_teachers(specs: list[str]) -> dict[str, str]:
    """``["ferplus=A.onnx", "rafdb,affectnet=B.onnx"]`` -> ``{"ferplus": "A.onnx", "rafdb": "B.onnx", "affectnet": "B.onnx"}``.

    Example:
        >>> parse_source_teachers(["ferplus=a.onnx", "rafdb,affectnet=b.onnx"])
        {'ferplus': 'a.onnx', 'rafdb': 'b.onnx', 'affectnet': 'b.onnx'}
    """
    out: dict[str, str] = {}
    for spec in specs:
        names, sep, model = spec.partition("=")
        if not sep or not model or not names:
            raise UsageError(f"--teacher {spec!r}: write SOURCES=MODEL, e.g. rafdb,affectnet=model.int8.onnx")
        for name in (n.strip() for n in names.split(",")):
            if name in out:
                raise UsageError(f"--teacher: source {name} has two teachers")
            out[name] = model
    return out


def teacher_probabilities(
    mixed: MixedFaces, teachers: dict[str, str], threads: int | None = None, temperature: float = 1.0
) -> np.ndarray:
    """float32 (N, classes): each item's probabilities from its source's teacher (an ONNX file on the same classes),
    its logits without the file's calibration, divided by ``temperature``. Every source needs a teacher."""
    from ..evaluation.evaluate import onnx_logits
    from ..runtime.classifier import EmotionClassifier
    from ..runtime.model_io import softmax

    names = [s.dataset for s in mixed.sources]
    missing = [n for n in names if n not in teachers]
    if missing or set(teachers) - set(names):
        raise UsageError(f"teachers given for {sorted(teachers)}; the mixture's sources are {names}")
    probs = np.zeros((len(mixed.data), len(mixed.data.classes)), np.float32)
    for s, name in enumerate(names):
        clf = EmotionClassifier(teachers[name], threads=threads)
        if tuple(clf.labels) != tuple(mixed.data.classes):
            raise CheckpointError(f"{teachers[name]}: classes {list(clf.labels)}, the mixture's are {list(mixed.data.classes)}")
        items = np.flatnonzero(mixed.source == s)
        ds = FaceDataset([mixed.data.images[i] for i in items], mixed.data.labels[items], mixed.data.classes)
        probs[items] = softmax(onnx_logits(clf, ds, calibrated=False) / temperature)
        print(f"{name}: {len(items)} faces scored by {teachers[name]}")
    return probs


def write_teacher_targets(path: str | Path, ids: list[str], probs: np.ndarray, classes: tuple[str, ...], note: str) -> None:
    """Store ``probs`` by item id (strings only: the file loads without pickle)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=np.array(ids), probs=probs.astype(np.float32), classes=np.array(classes), note=np.array(note))


def blend_teacher_targets(ds: FaceDataset, path: str | Path, alpha: float) -> tuple[FaceDataset, int]:
    """``ds`` with each item's target ``(1 - alpha) * target + alpha * teacher`` where ``path`` has that item's id;
    also the number of items blended. Items the file lacks keep their targets; a file that matches none is an error.

    Example:
        >>> ds = FaceDataset(np.zeros((2, 8, 8), np.uint8), [0, 1], ("a", "b"), ["x:0", "x:1"])
        >>> write_teacher_targets("t.npz", ["x:1"], np.array([[0.5, 0.5]]), ("a", "b"), "example")
        >>> blended, n = blend_teacher_targets(ds, "t.npz", alpha=0.5)
        >>> n, blended.soft_labels.tolist()
        (1, [[1.0, 0.0], [0.25, 0.75]])
    """
    try:
        with np.load(path, allow_pickle=False) as f:
            ids, probs, classes = f["ids"], f["probs"], tuple(str(c) for c in f["classes"])
    except (OSError, ValueError, KeyError) as e:
        raise DataError(f"{path}: not a teacher-targets file ({str(e)[:120]})") from None
    if classes != tuple(ds.classes):
        raise DataError(f"{path}: teacher targets over {list(classes)}, the training classes are {list(ds.classes)}")
    row = {str(i): k for k, i in enumerate(ids)}
    found = np.array([row.get(i, -1) for i in ds.ids])
    blended = found >= 0
    if not blended.any():
        raise DataError(f"{path}: none of the {len(ds)} training faces has a teacher target (made for other data?)")
    if ds.soft_labels is not None:
        targets = ds.soft_labels.copy()
    else:
        targets = np.eye(len(ds.classes), dtype=np.float32)[ds.labels]
    targets[blended] = (1 - alpha) * targets[blended] + alpha * probs[found[blended]]
    return replace(ds, soft_labels=targets.astype(np.float32)), int(blended.sum())
