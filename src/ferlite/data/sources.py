"""Named datasets and splits: one call from the CLI's ``--dataset/--split`` to a FaceDataset."""

from __future__ import annotations

from pathlib import Path

from ..core.paths import find_shared
from .readers import (
    RAFDB_VAL_FRACTION,
    DataError,
    FaceDataset,
    read_cew_npz,
    read_fer2013_csv,
    read_fer2013_npz,
    read_ferplus,
    read_image_folder,
    read_packed_jpeg_npz,
    stratified_split,
)

DATASETS = ("fer2013", "ferplus", "ferplus-majority", "rafdb", "affectnet", "folder", "cew")
# The shared file of each packed in-the-wild dataset (shared/data/README.md).
PACKED_FILES = {"rafdb": "data/rafdb_basic.npz", "affectnet": "data/affectnet_yolo96_gray.npz"}
SPLITS = ("train", "val", "test")


def load_dataset(
    name: str,
    split: str,
    path: str | Path | None = None,
    classes: tuple[str, ...] | None = None,
    strict: bool = False,
    val_fraction: float = 0.15,
    seed: int = 0,
    color: bool = False,
) -> FaceDataset:
    """Load one split of a dataset, restricted to ``classes``.

    Args:
        name: ``fer2013`` (``path``: fer2013.npz or the original CSV; default: the shared npz),
            ``ferplus`` (``path``: fer2013.npz; votes from its ``ferplus_votes``; labels by plurality),
            ``ferplus-majority`` (the same faces under FERPlus's official majority rule: fewer, surer labels),
            ``folder`` (``path``: ``root/<class>/`` or ``root/{train,test}/<class>/``) or
            ``cew`` (eye patches, closed/open, split by face with ``seed``; default: the shared eyes_cew.npz),
            ``rafdb`` (RAF-DB basic, 7 classes; ``val`` is a stratified 10% of the official train split, seed 0,
            whatever ``seed`` says, so that every run selects on the same faces) or
            ``affectnet`` (the AffectNet subset, 8 classes, its own train/val/test; ``train`` leaves out the
            faces that are FER2013's own web photos).
        split: ``train``, ``val`` or ``test``. FER2013 uses Training, PublicTest and
            PrivateTest. A folder with its own ``train/`` and ``test/`` keeps them and
            carves ``val`` out of ``train/``; a plain folder is split by stratified
            sampling with ``seed`` into test, val and train.
        classes: canonical class names to keep (see :func:`ferlite.core.taxonomy.parse_classes`).
        color: keep colour faces in BGR (the input of ``rgb`` models): RAF-DB's, and a folder's colour images.
            FER2013's and AffectNet's faces are gray whatever it says.

    Example:
        >>> ds = load_dataset("fer2013", "val", classes=("angry", "happy"))  # doctest: +SKIP
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if name == "fer2013":
        path = Path(path) if path else find_shared("data/fer2013.npz")
        if path.suffix.lower() == ".csv":
            ds = read_fer2013_csv(path, split=split, strict=strict)
        else:
            ds = read_fer2013_npz(path, split=split)
    elif name in ("ferplus", "ferplus-majority"):
        path = Path(path) if path else find_shared("data/fer2013.npz")
        ds = read_ferplus(path, split=split, strict=strict, rule="majority" if name == "ferplus-majority" else "plurality")
    elif name == "cew":
        ds = read_cew_npz(Path(path) if path else find_shared("data/eyes_cew.npz"), split=split, seed=seed)
    elif name in PACKED_FILES:
        ds = _packed_split(name, Path(path) if path else find_shared(PACKED_FILES[name]), split, strict, color)
    elif name == "folder":
        if path is None:
            raise DataError("--dataset folder needs --data-path pointing at the image folder")
        ds = _folder_split(Path(path), split, strict, val_fraction, seed, color)
    else:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return ds.select_classes(classes)


def _folder_split(root: Path, split: str, strict: bool, val_fraction: float, seed: int, color: bool) -> FaceDataset:
    if (root / "train").is_dir() and (root / "test").is_dir():
        if split == "test":
            return read_image_folder(root / "test", strict=strict, color=color)
        train, val = stratified_split(read_image_folder(root / "train", strict=strict, color=color), val_fraction, seed)
        return train if split == "train" else val
    rest, test = stratified_split(read_image_folder(root, strict=strict, color=color), val_fraction, seed)
    if split == "test":
        return test
    train, val = stratified_split(rest, val_fraction / (1 - val_fraction), seed)
    return train if split == "train" else val


def _packed_split(name: str, path: Path, split: str, strict: bool, color: bool) -> FaceDataset:
    if name == "affectnet":
        return read_packed_jpeg_npz(path, split, drop_fer2013_matches=split == "train", color=color, strict=strict)
    if split == "test":
        return read_packed_jpeg_npz(path, "test", color=color, strict=strict)
    train, val = stratified_split(read_packed_jpeg_npz(path, "train", color=color, strict=strict), RAFDB_VAL_FRACTION, seed=0)
    return train if split == "train" else val
