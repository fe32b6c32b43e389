"""Emotion classifier on ONNX Runtime: one session, batched over all faces of a frame.

The model file describes itself: classes, input size, mean/std and colour mode are read
from its ONNX metadata (written by ``ferlite export``), never guessed from its name.
No torch is imported here.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from ..errors import CheckpointError
from .image import to_gray8

# ONNX metadata keys written by ferlite.export.
META_PREFIX = "ferlite."


@dataclass(frozen=True)
class Preprocessing:
    """How a face crop becomes the model input; read from the model's metadata."""

    input_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    color_mode: str
    labels: tuple[str, ...]

    @classmethod
    def from_metadata(cls, meta: dict[str, str], source: str) -> "Preprocessing":
        try:
            return cls(
                input_size=int(meta[META_PREFIX + "input_size"]),
                mean=tuple(json.loads(meta[META_PREFIX + "mean"])),
                std=tuple(json.loads(meta[META_PREFIX + "std"])),
                color_mode=meta.get(META_PREFIX + "color_mode", "gray2rgb"),
                labels=tuple(json.loads(meta[META_PREFIX + "labels"])),
            )
        except (KeyError, ValueError) as e:
            raise CheckpointError(f"{source}: not a ferlite emotion model (ONNX metadata lacks {e}); export it with 'ferlite export'") from None


def preprocess_faces(crops: Sequence[np.ndarray], pre: Preprocessing) -> np.ndarray:
    """Face crops (BGR, BGRA or gray, uint8 or uint16) -> float32 (N, 3, S, S) model input.

    Matches the training eval preset: gray, bilinear resize, gray to RGB, (x/255 - mean)/std.

    Example:
        >>> x = preprocess_faces([np.zeros((80, 60, 3), np.uint8)], Preprocessing(64, (0.5,)*3, (0.5,)*3, "gray2rgb", ("a",)))
        >>> x.shape
        (1, 3, 64, 64)
    """
    s = pre.input_size
    out = np.empty((len(crops), 3, s, s), np.float32)
    mean = np.asarray(pre.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(pre.std, np.float32).reshape(3, 1, 1)
    for i, crop in enumerate(crops):
        gray = to_gray8(crop)
        resized = cv2.resize(gray, (s, s), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255.0
        out[i] = (resized[None] - mean) / std
    return out


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


class EmotionClassifier:
    """An ONNX emotion model: ``predict(crops) -> probabilities (N, classes)``.

    Args:
        model_path: an ONNX file written by ``ferlite export`` (fp32 or int8).
        threads: intra-op threads for ONNX Runtime (default: ONNX Runtime's choice).
        hflip_tta: also classify each face's mirror image and average the logits
            (horizontal-flip test-time augmentation: a little more accurate, twice the classifier cost).

    Example:
        >>> clf = EmotionClassifier("model.int8.onnx", threads=1)  # doctest: +SKIP
        >>> clf.predict([face_bgr]).shape  # doctest: +SKIP
        (1, 7)
    """

    def __init__(self, model_path: str | Path, threads: int | None = None, hflip_tta: bool = False) -> None:
        import onnxruntime as ort

        self.hflip_tta = hflip_tta
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise CheckpointError(f"{self.model_path}: model file not found")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(str(self.model_path), opts, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise CheckpointError(f"{self.model_path}: not a loadable ONNX model ({str(e)[:200]})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        self.pre = Preprocessing.from_metadata(meta, str(self.model_path))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        if inp.shape[-1] not in (self.pre.input_size, None) and not isinstance(inp.shape[-1], str):
            raise CheckpointError(f"{self.model_path}: input is {inp.shape[-1]}px but its metadata says {self.pre.input_size}")
        self.labels = self.pre.labels

    def predict_logits(self, batch: np.ndarray) -> np.ndarray:
        """Logits for an already preprocessed batch (N, 3, S, S)."""
        if len(batch) == 0:
            return np.zeros((0, len(self.labels)), np.float32)
        if self.hflip_tta:  # one call for the faces and their mirror images
            both = self.session.run(None, {self.input_name: np.concatenate([batch, batch[..., ::-1]])})[0]
            return (both[: len(batch)] + both[len(batch):]) / 2
        return self.session.run(None, {self.input_name: batch})[0]

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities for face crops, one batched ONNX Runtime call."""
        return softmax(self.predict_logits(preprocess_faces(crops, self.pre)))


def time_inference(clf: EmotionClassifier, batch: int, runs: int, warmup: int = 5) -> np.ndarray:
    """Seconds taken by each of ``runs`` classifier calls on a random batch (after ``warmup`` calls).

    Example:
        >>> 1000 * np.median(time_inference(clf, batch=1, runs=100))  # ms per face  # doctest: +SKIP
    """
    s = clf.pre.input_size
    x = np.random.default_rng(0).standard_normal((batch, 3, s, s)).astype(np.float32)
    for _ in range(warmup):
        clf.predict_logits(x)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        clf.predict_logits(x)
        times[i] = time.perf_counter() - t
    return times
