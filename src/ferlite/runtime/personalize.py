"""On-device personalization: a small head on the model's face embeddings, fitted from a few labelled faces of one
person or one camera, blended with the shipped head. numpy only: it runs where the runtime runs, faces never leave.

The bundled models expose the embedding (the classifier's 1280-value input) as their second output. From k faces
per class a regularized multinomial logistic layer is fitted on the standardized embeddings; its logits are blended
with the shipped model's (see :meth:`Personalization.apply`) for the classes the person gave examples of. The result is a small ``.npz`` file next to the model; each new labelled
face (a keyboard correction) refits it in about a tenth of a second on a 2-core CPU.

Example:
    >>> rng = np.random.default_rng(0)
    >>> emb = rng.normal(size=(40, 16)).astype(np.float32)
    >>> labels = np.repeat([0, 1], 20); emb[labels == 1] += 1.0
    >>> p = fit_personalization(emb, labels, ("happy", "sad"), model_sha256="x" * 64)
    >>> p.personal_logits(emb).argmax(1)[:3], p.classes_seen
    (array([0, 0, 0]), ('happy', 'sad'))
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import CheckpointError, UsageError
from .image import IMAGE_SUFFIXES
from .model_io import preprocess_faces, softmax

FORMAT = "ferlite-personalization-1"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, as hex (the personalization remembers which model file it was fitted for)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class Personalization:
    """A personal head on a model's embeddings and its blend with the shipped head.

    Attributes:
        labels: the model's classes, in its output order.
        model_sha256: the model file it was fitted for; applying it to another model is refused.
        blend: the personal head's weight in the blended logits (0: the shipped model as is).
        embeddings, targets: the examples (kept, so that one more corrects the head by refitting).
        l2: the weight penalty of the logistic layer (larger: closer to uniform, safer with few faces).
    """

    labels: tuple[str, ...]
    model_sha256: str
    blend: float = 0.5
    l2: float = 1e-2
    embeddings: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    targets: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    mean: np.ndarray | None = None
    scale: np.ndarray | None = None
    weight: np.ndarray | None = None  # (classes seen, D)
    bias: np.ndarray | None = None
    seen: np.ndarray | None = None  # indices into labels of the classes the head knows

    @property
    def classes_seen(self) -> tuple[str, ...]:
        return tuple(self.labels[i] for i in (self.seen if self.seen is not None else []))

    def fit(self, steps: int = 300) -> Personalization:
        """(Re)fit the logistic layer on the stored examples: full-batch gradient descent with Nesterov momentum on
        the L2-regularized cross-entropy over the classes seen."""
        if len(self.targets) == 0:
            raise UsageError("personalization needs at least one labelled face")
        self.seen = np.unique(self.targets)
        if len(self.seen) < 2:
            raise UsageError(f"personalization needs faces of at least two classes, got only {self.labels[self.seen[0]]}")
        x = self.embeddings.astype(np.float64)
        self.mean = x.mean(0)
        std = x.std(0)
        # Near-constant features (ReLU outputs that are almost always 0) are not blown up into noise.
        self.scale = np.maximum(std, 1e-2 * std.mean() + 1e-12)
        z = (x - self.mean) / self.scale
        y = np.searchsorted(self.seen, self.targets)
        onehot = np.eye(len(self.seen))[y]
        n = len(z)
        # The step is one over the gradient's Lipschitz bound: the softmax cross-entropy's curvature is at most half
        # the largest eigenvalue of z'z/n (at least 1, the bias's), plus l2. Embeddings are strongly correlated
        # (eigenvalues near 200 for 80 faces), so a fixed step overshot: the fit oscillated and could ignore
        # a correction given three times.
        step = 1.0 / (0.5 * max(float(np.linalg.norm(z, 2)) ** 2 / n, 1.0) + self.l2)
        w = w_prev = np.zeros((len(self.seen), z.shape[1]))
        b = b_prev = np.zeros(len(self.seen))
        for t in range(steps):
            momentum = t / (t + 3)
            vw, vb = w + momentum * (w - w_prev), b + momentum * (b - b_prev)
            g = (softmax(z @ vw.T + vb) - onehot) / n
            w_prev, b_prev = w, b
            w = vw - step * (g.T @ z + self.l2 * vw)
            b = vb - step * g.sum(0)
        self.weight, self.bias = w.astype(np.float32), b.astype(np.float32)
        return self

    def add(self, embedding: np.ndarray, label: str) -> Personalization:
        """One more labelled face (e.g. the user's correction "this is happy"), and a refit."""
        if label not in self.labels:
            raise UsageError(f"unknown class {label!r}; the model's classes: {', '.join(self.labels)}")
        emb = np.asarray(embedding, np.float32).reshape(1, -1)
        self.embeddings = emb if self.embeddings.size == 0 else np.concatenate([self.embeddings, emb])
        self.targets = np.append(self.targets, self.labels.index(label))
        return self.fit() if len(np.unique(self.targets)) >= 2 else self

    def personal_logits(self, embeddings: np.ndarray) -> np.ndarray:
        """The personal head's logits over the classes seen (N, len(classes_seen))."""
        if self.weight is None or self.mean is None or self.scale is None:
            raise UsageError("the personalization is not fitted yet (it needs faces of two classes)")
        z = (np.asarray(embeddings, np.float64) - self.mean) / self.scale
        return (z @ self.weight.T + self.bias).astype(np.float32)

    def apply(self, logits: np.ndarray, embeddings: np.ndarray) -> np.ndarray:
        """The shipped ``logits`` (N, classes) blended with the personal head's, as log-probabilities.

        Among the classes the person gave examples of, the two heads' log-probabilities are blended; those classes
        together get the blend of their shipped share and 1 (the person said their faces show these), and the
        other classes share the rest as the shipped head had them. With examples of every class, only the blend
        within them acts.
        """
        if self.weight is None or self.seen is None or self.blend == 0:
            return logits
        logp = _log_softmax(np.asarray(logits, np.float64))
        seen_mass = np.exp(logp[:, self.seen]).sum(1, keepdims=True)
        target = (1 - self.blend) * seen_mass + self.blend
        unseen = np.setdiff1d(np.arange(logp.shape[1]), self.seen)
        if len(unseen):
            logp[:, unseen] += np.log(np.maximum(1 - target, 1e-12) / np.maximum(1 - seen_mass, 1e-12))
        shipped = _log_softmax(logp[:, self.seen])
        personal = _log_softmax(self.personal_logits(embeddings).astype(np.float64))
        logp[:, self.seen] = np.log(target) + _log_softmax((1 - self.blend) * shipped + self.blend * personal)
        return logp.astype(np.float32)

    def save(self, path: str | Path) -> Path:
        """Write the personalization as a small .npz (no pickled objects)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "wb") as f:
            np.savez_compressed(
                f,
                format=np.array(FORMAT),
                labels=np.array(self.labels),
                model_sha256=np.array(self.model_sha256),
                blend=np.array(self.blend),
                l2=np.array(self.l2),
                embeddings=self.embeddings.astype(np.float32),
                targets=self.targets.astype(np.int64),
            )
        return path

    @classmethod
    def load(cls, path: str | Path) -> Personalization:
        """Read a file written by :meth:`save` and refit it; a foreign or damaged file is a CheckpointError."""
        path = Path(path)
        try:
            check_npz_sizes(path, MAX_PERSONALIZATION_BYTES)
            with np.load(path, allow_pickle=False) as z:
                if str(z["format"]) != FORMAT:
                    raise ValueError(f"format {z['format']}")
                p = cls(
                    labels=tuple(str(v) for v in z["labels"]),
                    model_sha256=str(z["model_sha256"]),
                    blend=float(z["blend"]),
                    l2=float(z["l2"]),
                    embeddings=z["embeddings"].astype(np.float32),
                    targets=z["targets"].astype(np.int64),
                )
        except FileNotFoundError:
            raise CheckpointError(f"{path}: personalization file not found") from None
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as e:
            raise CheckpointError(f"{path}: not a ferlite personalization file ({e})") from None
        problem = _inconsistency(p)
        if problem:
            raise CheckpointError(f"{path}: inconsistent personalization file: {problem}")
        return p.fit() if len(np.unique(p.targets)) >= 2 else p

    def check_model(self, labels: tuple[str, ...], model_sha256: str, width: int, source: str) -> None:
        """Refuse a personalization fitted for another model file, other classes or another embedding width."""
        if tuple(labels) != self.labels:
            raise CheckpointError(
                f"{source}: the personalization's classes {list(self.labels)} are not the model's {list(labels)}"
            )
        if model_sha256 != self.model_sha256:
            raise CheckpointError(
                f"{source}: the personalization was fitted for another model file (SHA-256 {self.model_sha256[:12]}...)"
            )
        if self.embeddings.size and self.embeddings.shape[1] != width:
            raise CheckpointError(
                f"{source}: the personalization's embeddings have {self.embeddings.shape[1]} values, the model's {width}"
            )


# A personalization holds a few faces' embeddings: a few MB. A file that declares more is refused before it is read
# (a 1.9 MB file declaring 2 GB grew to 13.8 GB in memory).
MAX_PERSONALIZATION_BYTES = 256 * 1024 * 1024


def check_npz_sizes(path: Path, max_bytes: int) -> None:
    """Refuse an ``.npz`` whose arrays would take more than ``max_bytes``, or whose array headers declare more data
    than their members hold, from the zip directory and each ``.npy`` header, before any array is allocated."""
    from numpy.lib import format as npy

    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
        if sum(m.file_size for m in members) > max_bytes:
            raise ValueError(f"its arrays declare {sum(m.file_size for m in members):,} bytes, over {max_bytes:,}")
        for m in members:
            with archive.open(m) as f:
                reader = {(1, 0): npy.read_array_header_1_0, (2, 0): npy.read_array_header_2_0}.get(npy.read_magic(f))
                if reader is None:
                    raise ValueError(f"{m.filename}: an .npy version this reader does not take")
                shape, _, dtype = reader(f)
                needed = int(np.prod(shape, dtype=np.float64)) * dtype.itemsize
                if needed > m.file_size:
                    raise ValueError(f"{m.filename} declares {needed:,} bytes of data in {m.file_size:,}")


def _inconsistency(p: Personalization) -> str | None:
    """What is wrong with a loaded personalization's arrays, or None."""
    if not 0 <= p.blend <= 1 or not np.isfinite(p.l2):
        return f"blend {p.blend} or l2 {p.l2} out of range"
    if p.embeddings.ndim != 2 or p.targets.ndim != 1:
        return f"embeddings of shape {p.embeddings.shape} and targets of shape {p.targets.shape} (want (N, D) and (N,))"
    if len(p.targets) != len(p.embeddings):
        return f"{len(p.embeddings)} embeddings but {len(p.targets)} targets"
    if not np.isfinite(p.embeddings).all():
        return "embeddings hold NaN or infinity"
    if len(p.targets) and (p.targets.min() < 0 or p.targets.max() >= len(p.labels)):
        return f"class indices outside 0-{len(p.labels) - 1}"
    return None


def fit_personalization(
    embeddings: np.ndarray,
    targets: np.ndarray,
    labels: tuple[str, ...],
    model_sha256: str,
    blend: float = 0.5,
    l2: float = 1e-2,
) -> Personalization:
    """A fitted :class:`Personalization` from embeddings (N, D) and class indices into ``labels`` (N,)."""
    if not 0 <= blend <= 1:
        raise UsageError(f"--blend must be between 0 and 1, got {blend}")
    p = Personalization(tuple(labels), model_sha256, blend, l2, np.asarray(embeddings, np.float32), np.asarray(targets, np.int64))
    return p.fit()


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    return z - np.log(np.exp(z).sum(1, keepdims=True))


def read_labelled_faces(
    folder: str | Path, labels: tuple[str, ...], strict: bool = False
) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Face crops from ``folder/<class>/*`` (class folders named as the model's classes): the crops, their class
    indices into ``labels``, and how many unreadable files were skipped (``strict``: the first one stops with an
    error naming it). A folder that is not one of the classes is an error naming it."""
    from ..core.errors import DataError
    from .image import read_image

    root = Path(folder)
    if not root.is_dir():
        raise UsageError(f"{root}: not a folder of class folders (DIR/<class>/*.png)")
    crops, targets, skipped = [], [], 0
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        if sub.name not in labels:
            raise UsageError(f"{sub}: {sub.name!r} is not one of the model's classes ({', '.join(labels)})")
        for f in sorted(p for p in sub.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES):
            try:
                crops.append(read_image(f))
            except DataError:
                if strict:
                    raise
                skipped += 1
                continue
            targets.append(labels.index(sub.name))
    if not crops:
        raise UsageError(f"{root}: no face images in its class folders")
    return crops, np.asarray(targets, np.int64), skipped


def holdout_split(targets: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a per-class, seeded split: (fit, held out); a class with a single face is only fitted on.

    Example:
        >>> fit, held = holdout_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.5)
        >>> sorted(np.concatenate([fit, held]).tolist()) == list(range(8)), len(held)
        (True, 4)
    """
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for c in np.unique(targets):
        idx = rng.permutation(np.flatnonzero(targets == c))
        n_held = int(round(len(idx) * fraction)) if len(idx) > 1 else 0
        held += idx[:n_held].tolist()
        fit += idx[n_held:].tolist()
    return np.sort(np.asarray(fit, np.int64)), np.sort(np.asarray(held, np.int64))


class StreamPersonalization:
    """One viewer's corrections on a live stream (a web client, a camera): the faces of the last frame are kept, a
    correction ("this is happy") adds the largest one's embedding to a personal head, and once it knows two classes
    every frame's scores are blended with it. Nothing is stored: it lives as long as the stream.

    Example:
        >>> personal = StreamPersonalization(Recognizer())  # doctest: +SKIP
        >>> faces = personal.apply(frame, stream.update(frame))  # doctest: +SKIP
        >>> personal.correct("happy")  # doctest: +SKIP
        {'type': 'personalized', 'label': 'happy', 'examples': 1, 'active': False}
    """

    def __init__(self, recognizer) -> None:
        self.recognizer = recognizer
        self.head: Personalization | None = None
        self._last: tuple[np.ndarray, Any] | None = None  # the last frame and its Faces

    def apply(self, frame: np.ndarray, faces):
        """Remember the frame's faces; with a fitted head, their scores blended with it (unsmoothed)."""
        self._last = (frame, faces)
        if self.head is None or self.head.weight is None or len(faces) == 0:
            return faces
        logits, emb = self._scores(frame, faces)
        return faces.with_(scores=softmax(self.head.apply(logits, emb)).astype(np.float32))

    def correct(self, label: str) -> dict:
        """The largest face of the last frame is ``label``, a class name (any case) or its number in the model's
        classes from 1 (a key or a typed digit): a reply for the viewer (``type`` personalized or error)."""
        rec = self.recognizer
        label = label.strip()
        label = rec.labels[int(label) - 1] if label.isdigit() and 1 <= int(label) <= len(rec.labels) else label.lower()
        if label not in rec.labels:
            return {"type": "error", "message": f"unknown class {label!r}; the model's classes: {', '.join(rec.labels)}"}
        if self._last is None or len(self._last[1]) == 0:
            return {"type": "error", "message": "no face in the last frame to correct"}
        frame, faces = self._last
        sides = (faces.xyxy[:, 2] - faces.xyxy[:, 0]) * (faces.xyxy[:, 3] - faces.xyxy[:, 1])
        largest = faces[int(np.argmax(sides))]
        _, emb = self._scores(frame, largest)
        if self.head is None:
            self.head = Personalization(tuple(rec.labels), rec.classifier.sha256())
        self.head.add(emb[0], label)
        return {
            "type": "personalized",
            "label": label,
            "examples": len(self.head.targets),
            "active": self.head.weight is not None,
        }

    def _scores(self, frame: np.ndarray, faces) -> tuple[np.ndarray, np.ndarray]:
        # The server's own personalization (if any) is in the calibrated logits; the viewer's goes on top.
        clf = self.recognizer.classifier
        clf.check_embedding()
        logits, emb = clf.logits_and_embeddings(preprocess_faces(self.recognizer.face_crops(frame, faces), clf.spec), True)
        assert emb is not None  # check_embedding said the model has it
        return logits, emb
