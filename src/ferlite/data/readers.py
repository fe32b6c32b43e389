"""Readers for FER2013 (CSV and npz), FERPlus votes and class-per-folder image datasets.

Every reader returns a :class:`FaceDataset` of uint8 faces (grayscale; a colour file's faces kept in BGR when
asked) with canonical class names. A corrupt row or image is reported by name, skipped and counted in
``dataset.skipped``; with ``strict=True`` it raises :class:`DataError` instead.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import DataError
from ..core.taxonomy import EMOTIONS, canonical
from ..runtime.image import IMAGE_SUFFIXES

_logger = logging.getLogger(__name__)

# Our split names and FER2013's ``Usage`` values. PublicTest selects models,
# PrivateTest is for final reports only.
FER2013_USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
FER2013_CLASSES = EMOTIONS[:7]
# fer2013new.csv columns after Usage and Image name.
FERPLUS_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
FERPLUS_CLASSES = tuple(canonical(c) for c in FERPLUS_COLUMNS[:8])


@dataclass
class FaceDataset:
    """Faces with integer labels into ``classes``.

    Attributes:
        images: uint8 array (N, H, W) of gray faces or (N, H, W, 3) of BGR ones, or a list of (H, W) and
            (H, W, 3) arrays when sizes or colours differ (a mixture of gray and colour sources).
        labels: int64 (N,) index into ``classes``.
        classes: canonical class names.
        ids: a name per item (``row 17``, a file path) for messages and reports.
        soft_labels: optional float32 (N, len(classes)) target distributions (FERPlus votes).
        skipped: how many corrupt items the reader skipped.

    Example:
        >>> ds = read_fer2013_npz("shared/data/fer2013.npz", split="val")  # doctest: +SKIP
        >>> len(ds), ds.classes[:2]  # doctest: +SKIP
        (3589, ('angry', 'disgust'))
    """

    images: np.ndarray | list[np.ndarray]
    labels: np.ndarray
    classes: tuple[str, ...]
    ids: list[str] = field(default_factory=list)
    soft_labels: np.ndarray | None = None
    skipped: int = 0

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError(f"images ({len(self.images)}) and labels ({len(self.labels)}) differ in length")
        if self.soft_labels is not None and self.soft_labels.shape != (len(self.labels), len(self.classes)):
            raise ValueError(
                f"soft_labels must have shape ({len(self.labels)}, {len(self.classes)}), got {self.soft_labels.shape}"
            )
        if not self.ids:
            self.ids = [f"item {i}" for i in range(len(self.labels))]

    def __len__(self) -> int:
        return len(self.labels)

    def counts(self) -> dict[str, int]:
        """Items per class, in ``classes`` order."""
        n = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(k) for c, k in zip(self.classes, n)}

    def subset(self, index: np.ndarray) -> FaceDataset:
        """A new dataset with the items at ``index`` (ints or a bool mask), same classes."""
        index = np.flatnonzero(index) if np.asarray(index).dtype == bool else np.asarray(index, dtype=np.int64)
        images = self.images[index] if isinstance(self.images, np.ndarray) else [self.images[i] for i in index]
        soft = None if self.soft_labels is None else self.soft_labels[index]
        return FaceDataset(images, self.labels[index], self.classes, [self.ids[i] for i in index], soft, self.skipped)

    def sample(self, n: int, seed: int = 0) -> FaceDataset:
        """``n`` items drawn at random without replacement (all of them if fewer), in their original order.

        Example:
            >>> calibration = load_dataset("fer2013", "train").sample(512, seed=0)  # doctest: +SKIP
        """
        pick = np.random.default_rng(seed).choice(len(self), min(n, len(self)), replace=False)
        return self.subset(np.sort(pick))

    def select_classes(self, classes: tuple[str, ...] | None) -> FaceDataset:
        """Keep only ``classes`` (canonical names), relabelled 0..k-1 in the given order.

        Soft targets are restricted to those classes and renormalised; items whose
        distribution has no mass left are dropped.

        Example:
            >>> ds.select_classes(("angry", "happy")).classes  # doctest: +SKIP
            ('angry', 'happy')
        """
        if classes is None or tuple(classes) == self.classes:
            return self
        missing = [c for c in classes if c not in self.classes]
        if missing:
            raise DataError(f"classes {', '.join(missing)} are not in this dataset (it has {', '.join(self.classes)})")
        old_index = [self.classes.index(c) for c in classes]
        remap = np.full(len(self.classes), -1, dtype=np.int64)
        remap[old_index] = np.arange(len(classes))
        keep = remap[self.labels] >= 0
        soft = None
        if self.soft_labels is not None:
            soft = self.soft_labels[:, old_index]
            mass = soft.sum(1)
            keep &= mass > 0
            soft = soft[keep] / mass[keep, None]
        sub = self.subset(keep)
        return FaceDataset(sub.images, remap[sub.labels], tuple(classes), sub.ids, soft, self.skipped)


def _csv_line(line: str) -> list[str] | None:
    """One physical line as CSV fields, or None when the csv module refuses it (e.g. a field over its limit)."""
    try:
        return next(csv.reader([line.rstrip("\r\n")]), [])
    except csv.Error:
        return None


def _bad_item(message: str, strict: bool) -> None:
    if strict:
        raise DataError(message)
    _logger.warning("skipped: %s", message)


def _check_split(split: str | None) -> str | None:
    if split is not None and split not in FER2013_USAGE:
        raise DataError(f"unknown split {split!r}; FER2013 has {', '.join(FER2013_USAGE)} (Training, PublicTest, PrivateTest)")
    return None if split is None else FER2013_USAGE[split]


def read_fer2013_csv(path: str | Path, split: str | None = None, strict: bool = False) -> FaceDataset:
    """Read FER2013 in its original CSV form (``emotion,pixels,Usage``).

    Args:
        path: the CSV file.
        split: ``train``, ``val`` or ``test`` (Training, PublicTest, PrivateTest), or None for all.
        strict: raise on the first bad row instead of skipping it.

    Example:
        >>> ds = read_fer2013_csv("fer2013.csv", split="train")  # doctest: +SKIP
    """
    path = Path(path)
    usage = _check_split(split)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    images, labels, ids, skipped = [], [], [], 0
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        # Each physical line is parsed on its own: an unterminated quote must not swallow the rows after it.
        lines = iter(f)
        first = next(lines, None)
        header = _csv_line(first) if first is not None else None
        if header is None or [h.strip().lower() for h in header[:3]] != ["emotion", "pixels", "usage"]:
            raise DataError(f"{path}: not a FER2013 CSV (expected header emotion,pixels,Usage, got {header})")
        for lineno, line in enumerate(lines, start=2):
            where = f"{path}: line {lineno}"
            row = _csv_line(line)
            if row is None:
                skipped += 1
                _bad_item(f"{where}: not a CSV row (a field over the size limit, or malformed)", strict)
                continue
            if len(row) < 3:
                skipped += 1
                _bad_item(f"{where}: expected 3 fields, got {len(row)}", strict)
                continue
            if usage is not None and row[2].strip() != usage:
                continue
            try:
                label = int(row[0])
                if not 0 <= label < 7:
                    raise ValueError(f"emotion {label} is outside 0..6")
                values = row[1].split()
                if len(values) != 48 * 48:
                    raise ValueError(f"{len(values)} pixels, expected 2304 (48x48)")
                if any(len(v) > 3 for v in values):  # before numpy: a 30-digit value would overflow int64
                    raise ValueError("pixel values outside 0..255")
                pixels = np.array(values, dtype=np.int64)
                if pixels.min() < 0 or pixels.max() > 255:
                    raise ValueError("pixel values outside 0..255")
            except (ValueError, OverflowError) as e:
                skipped += 1
                _bad_item(f"{where}: {e}", strict)
                continue
            images.append(pixels.astype(np.uint8).reshape(48, 48))
            labels.append(label)
            ids.append(f"row {lineno - 2}")
    if skipped:
        _logger.warning("%s: skipped %d corrupt rows", path, skipped)
    arr = np.stack(images) if images else np.zeros((0, 48, 48), np.uint8)
    return FaceDataset(arr, np.array(labels), FER2013_CLASSES, ids, skipped=skipped)


def _load_npz(path: Path) -> np.lib.npyio.NpzFile:
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:
        raise DataError(f"{path}: not a readable .npz file ({e})") from None


def read_fer2013_npz(path: str | Path, split: str | None = None) -> FaceDataset:
    """Read ``fer2013.npz`` (see shared/data/README.md) with the original labels.

    Example:
        >>> ds = read_fer2013_npz("shared/data/fer2013.npz", split="test")  # doctest: +SKIP
        >>> len(ds)  # doctest: +SKIP
        3589
    """
    path = Path(path)
    usage = _check_split(split)
    with _load_npz(path) as z:
        for key in ("images", "emotion", "usage"):
            if key not in z.files:
                raise DataError(f"{path}: missing key {key!r}; not a ferlite fer2013.npz")
        rows = np.arange(len(z["emotion"])) if usage is None else np.flatnonzero(z["usage"] == usage)
        images, labels = z["images"][rows], z["emotion"][rows].astype(np.int64)
    return FaceDataset(images, labels, FER2013_CLASSES, [f"row {r}" for r in rows])


EYE_CLASSES = ("closed", "open")
# Fractions of CEW's faces (not images) held out for val and test.
CEW_HOLDOUT = 0.15


def read_cew_npz(path: str | Path, split: str | None = None, seed: int = 0) -> FaceDataset:
    """Read CEW eye patches (``eyes_cew.npz``: 24x24, closed/open), split by face.

    The two eyes of a face are near-duplicates, so the split assigns whole faces
    (``face_id``) to train, val (15%) or test (15%), drawn with ``seed``; the source
    repository's own per-image split leaks faces across it and is ignored.

    Example:
        >>> ds = read_cew_npz("shared/data/eyes_cew.npz", split="test")  # doctest: +SKIP
        >>> ds.classes  # doctest: +SKIP
        ('closed', 'open')
    """
    path = Path(path)
    if split is not None and split not in ("train", "val", "test"):
        raise DataError(f"unknown split {split!r}; choose train, val or test")
    with _load_npz(path) as z:
        for key in ("images", "labels", "face_id", "filenames"):
            if key not in z.files:
                raise DataError(f"{path}: missing key {key!r}; not a CEW eyes_cew.npz")
        images, labels, face_id, names = z["images"], z["labels"].astype(np.int64), z["face_id"], z["filenames"]
    if images.ndim != 3 or len(images) != len(labels):
        raise DataError(f"{path}: images must be (N, H, W) with one label each, got {images.shape} and {labels.shape}")
    faces = np.unique(face_id)
    order = np.random.default_rng(seed).permutation(len(faces))
    n_hold = int(round(CEW_HOLDOUT * len(faces)))
    part = np.empty(len(faces), dtype="<U5")
    part[order[:n_hold]], part[order[n_hold : 2 * n_hold]], part[order[2 * n_hold :]] = "test", "val", "train"
    item_part = part[np.searchsorted(faces, face_id)]
    rows = np.arange(len(labels)) if split is None else np.flatnonzero(item_part == split)
    return FaceDataset(images[rows], labels[rows], EYE_CLASSES, [str(names[r]) for r in rows])


FERPLUS_RULES = ("plurality", "majority")


def ferplus_targets(votes: np.ndarray, rule: str = "plurality") -> tuple[np.ndarray, np.ndarray]:
    """Labels and vote distributions from FERPlus's 10 vote columns.

    ``plurality``: a row is kept when its most-voted column is one of the 8 emotions (not ``unknown``
    or ``NF``, not-a-face) and has at least one vote. Ties go to the first column in
    FERPlus order. ``majority``: FERPlus's official rule (its ``majority`` mode): single votes are dropped as
    outliers, and the row is kept only when its top column holds more than half of the remaining votes and is
    an emotion. Distributions cover the 8 emotions only, from all votes, whatever the rule.

    Returns:
        ``(labels, dist)``: int64 (N,) with -1 for dropped rows, and float32 (N, 8).

    Example:
        >>> ferplus_targets(np.array([[0, 8, 2, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0, 10, 0]]))[0]
        array([ 1, -1])
    """
    votes = np.asarray(votes, dtype=np.float32)
    if votes.ndim != 2 or votes.shape[1] != 10:
        raise DataError(f"FERPlus votes must have shape (N, 10), got {votes.shape}")
    if rule not in FERPLUS_RULES:
        raise DataError(f"unknown FERPlus rule {rule!r}; choose one of {', '.join(FERPLUS_RULES)}")
    top = votes.argmax(1)
    emo = votes[:, :8]
    mass = emo.sum(1)
    labels = np.where((top < 8) & (mass > 0), top, -1)
    if rule == "majority":
        kept = np.where(votes > 1, votes, 0)
        labels = np.where(kept.max(1) > 0.5 * kept.sum(1), labels, -1)
    dist = np.divide(emo, mass[:, None], out=np.zeros_like(emo), where=mass[:, None] > 0)
    return labels, dist


def read_ferplus_votes_csv(path: str | Path, strict: bool = False) -> tuple[np.ndarray, list[str]]:
    """Votes (N, 10) and Usage values from ``fer2013new.csv``; a bad row gets zero votes."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    votes, usage = [], []
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or len(header) < 12 or header[0].strip() != "Usage":
            raise DataError(f"{path}: not a FERPlus label file (expected Usage,Image name,neutral,...,NF)")
        for lineno, row in enumerate(reader, start=2):
            try:
                if len(row) < 12:
                    raise ValueError(f"expected 12 fields, got {len(row)}")
                v = [int(x) for x in row[2:12]]
                if min(v) < 0:
                    raise ValueError("negative vote count")
            except ValueError as e:
                _bad_item(f"{path}: line {lineno}: {e}", strict)
                v = [0] * 10  # keeps row alignment with FER2013; dropped as unlabelled below
            votes.append(v)
            usage.append(row[0].strip() if row else "")
    return np.array(votes, dtype=np.uint8), usage


def read_ferplus(
    fer2013_npz: str | Path,
    split: str | None = None,
    votes_csv: str | Path | None = None,
    strict: bool = False,
    rule: str = "plurality",
) -> FaceDataset:
    """FER2013 faces with FERPlus labels (``rule``: see :func:`ferplus_targets`), plus the vote distributions.

    Votes come from ``votes_csv`` (``fer2013new.csv``, row-aligned with FER2013) when
    given, else from the npz's ``ferplus_votes``. Rows whose majority is unknown or
    not-a-face are dropped.

    Example:
        >>> ds = read_ferplus("shared/data/fer2013.npz", split="test")  # doctest: +SKIP
        >>> ds.classes  # doctest: +SKIP
        ('neutral', 'happy', 'surprise', 'sad', 'angry', 'disgust', 'fear', 'contempt')
    """
    full = read_fer2013_npz(fer2013_npz)
    with _load_npz(Path(fer2013_npz)) as z:
        usage = z["usage"]
        npz_votes = z["ferplus_votes"] if "ferplus_votes" in z.files else None
    if votes_csv is not None:
        votes, _ = read_ferplus_votes_csv(votes_csv, strict=strict)
    elif npz_votes is not None:
        votes = npz_votes
    else:
        raise DataError(f"{fer2013_npz}: has no ferplus_votes; pass the FERPlus CSV")
    if len(votes) != len(full):
        raise DataError(f"FERPlus votes have {len(votes)} rows but FER2013 has {len(full)}; they must be row-aligned")
    labels, dist = ferplus_targets(votes, rule)
    keep = labels >= 0
    want = _check_split(split)
    if want is not None:
        keep &= usage == want
    ds = full.subset(keep)
    return FaceDataset(ds.images, labels[keep], FERPLUS_CLASSES, ds.ids, dist[keep])


def read_image_folder(root: str | Path, strict: bool = False, color: bool = False) -> FaceDataset:
    """Read ``root/<class>/*.png`` (any image type) as grayscale faces, or as BGR ones with ``color``.

    Folder names are mapped to canonical emotions (``happiness`` -> ``happy``). Folders
    that are no emotion are an error. Unreadable images are named, skipped and counted.

    Example:
        >>> ds = read_image_folder("reference_set/")  # doctest: +SKIP
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"{root}: not a folder")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root}: has no class folders (expected {root}/<emotion>/<image>)")
    names = []
    for d in class_dirs:
        try:
            names.append(canonical(d.name))
        except ValueError as e:
            raise DataError(f"{d}: folder name is not an emotion ({e})") from None
    present = [c for c in EMOTIONS if c in names]
    images, labels, ids, skipped = [], [], [], 0
    for d, name in zip(class_dirs, names):
        for f in sorted(d.iterdir()):
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            img = cv2.imread(str(f), cv2.IMREAD_COLOR if color else cv2.IMREAD_GRAYSCALE)
            if img is None or img.size == 0:
                skipped += 1
                _bad_item(f"{f}: unreadable or corrupt image", strict)
                continue
            images.append(img)
            labels.append(present.index(name))
            ids.append(str(f))
    if skipped:
        _logger.warning("%s: skipped %d unreadable images", root, skipped)
    if not images:
        raise DataError(f"{root}: no readable images in its class folders")
    same = len({im.shape for im in images}) == 1
    return FaceDataset(np.stack(images) if same else images, np.array(labels), tuple(present), ids, skipped=skipped)


def stratified_split(ds: FaceDataset, val_fraction: float, seed: int = 0) -> tuple[FaceDataset, FaceDataset]:
    """Split a dataset into train and held-out parts with the class ratios kept.

    Example:
        >>> train, val = stratified_split(ds, 0.2, seed=0)  # doctest: +SKIP
    """
    from sklearn.model_selection import train_test_split

    if not 0 < val_fraction < 1:
        raise DataError(f"val fraction must be between 0 and 1, got {val_fraction}")
    idx = np.arange(len(ds))
    tr, va = train_test_split(idx, test_size=val_fraction, random_state=seed, stratify=ds.labels)
    return ds.subset(np.sort(tr)), ds.subset(np.sort(va))


# AffectNet crops whose 48x48 gray correlation with a FER2013 face is at least this are the same web photo
# (shared/data/README.md: 433 of them, 71 matching FER2013's test splits); they are left out of training.
FER2013_MATCH_THRESHOLD = 0.9
# RAF-DB ships no validation split: this fraction of its train split, stratified and seeded, selects models.
RAFDB_VAL_FRACTION = 0.10
_PACKED_SPLITS = ("train", "val", "test")


def read_packed_jpeg_npz(
    path: str | Path,
    split: str | None = None,
    *,
    drop_fer2013_matches: bool = False,
    color: bool = False,
    strict: bool = False,
) -> FaceDataset:
    """Read a packed-JPEG face file (``rafdb_basic.npz``, ``affectnet_yolo96_gray.npz``) as gray or BGR faces.

    Images are JPEG bytes concatenated in ``jpeg`` and cut at ``offsets``; labels are in FER order with contempt
    last (:data:`ferlite.core.taxonomy.EMOTIONS`). Colour faces become gray as the runtime makes them
    (:func:`ferlite.runtime.image.to_gray8`), unless ``color`` keeps them BGR (for ``rgb`` models). The classes are those the file's labels use, in EMOTIONS order
    (RAF-DB has no contempt). A JPEG that does not decode to the file's ``image_shape`` is named, skipped and
    counted, or raises under ``strict``.

    Args:
        path: the npz file (read without pickle).
        split: the file's own ``train``, ``val`` or ``test``, or None for all.
        drop_fer2013_matches: leave out faces whose ``fer2013_match_corr`` is at least
            :data:`FER2013_MATCH_THRESHOLD` (the same web photo as a FER2013 face).
        color: keep a colour file's faces in BGR, (N, H, W, 3); a gray file's stay (N, H, W).

    Example:
        >>> ds = read_packed_jpeg_npz("shared/data/affectnet_yolo96_gray.npz", "val")  # doctest: +SKIP
        >>> len(ds), ds.classes[-1]  # doctest: +SKIP
        (3508, 'contempt')
    """
    from ..runtime.image import to_gray8

    path = Path(path)
    if split is not None and split not in _PACKED_SPLITS:
        raise DataError(f"unknown split {split!r}; choose one of {', '.join(_PACKED_SPLITS)}")
    with _load_npz(path) as z:
        for key in ("jpeg", "offsets", "labels", "split", "image_shape"):
            if key not in z.files:
                raise DataError(f"{path}: missing key {key!r}; not a packed-JPEG face file (shared/data/README.md)")
        blob, offsets, labels, splits = z["jpeg"], z["offsets"].astype(np.int64), z["labels"].astype(np.int64), z["split"]
        shape = tuple(int(v) for v in z["image_shape"])
        names = z["filenames"] if "filenames" in z.files else np.array([f"item {i}" for i in range(len(labels))])
        corr = z["fer2013_match_corr"] if "fer2013_match_corr" in z.files else None
    n = len(labels)
    if len(offsets) != n + 1 or offsets[0] != 0 or offsets[-1] != len(blob) or np.any(np.diff(offsets) < 0):
        raise DataError(f"{path}: offsets must rise from 0 to the JPEG blob's length, one more than the labels")
    if labels.min(initial=0) < 0 or labels.max(initial=0) >= len(EMOTIONS):
        raise DataError(f"{path}: labels outside 0..{len(EMOTIONS) - 1}")
    if len(shape) != 3 or not (8 <= shape[0] <= 1024 and 8 <= shape[1] <= 1024 and shape[2] in (1, 3)):
        raise DataError(f"{path}: image_shape {shape} is not a face crop (8-1024 px, 1 or 3 channels)")
    keep = np.ones(n, bool) if split is None else splits == split
    if drop_fer2013_matches:
        if corr is None:
            raise DataError(f"{path}: has no fer2013_match_corr to drop FER2013 matches with")
        # In the file's own float16, as the data README counted them: 0.9 is 0.8999 there.
        keep &= ~(corr >= np.asarray(FER2013_MATCH_THRESHOLD, corr.dtype))
    rows = np.flatnonzero(keep)
    keep_color = color and shape[2] == 3
    images = np.empty((len(rows), shape[0], shape[1], 3) if keep_color else (len(rows), shape[0], shape[1]), np.uint8)
    ok = np.ones(len(rows), bool)
    flag = cv2.IMREAD_GRAYSCALE if shape[2] == 1 else cv2.IMREAD_COLOR
    for j, r in enumerate(rows):
        img = cv2.imdecode(blob[offsets[r] : offsets[r + 1]], flag) if offsets[r + 1] > offsets[r] else None
        if img is None or img.shape[:2] != shape[:2]:
            ok[j] = False
            _bad_item(f"{path}: item {r} ({names[r]}): not a {shape[0]}x{shape[1]} JPEG", strict)
            continue
        images[j] = img if keep_color else to_gray8(img)
    skipped = int((~ok).sum())
    if skipped:
        _logger.warning("%s: skipped %d corrupt images", path, skipped)
    rows, images = rows[ok], images[ok]
    present = int(labels.max(initial=0)) + 1
    return FaceDataset(images, labels[rows], EMOTIONS[:present], [str(names[r]) for r in rows], skipped=skipped)
