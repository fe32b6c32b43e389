"""A model's input and output, shared by the classifier, personalization, evaluation and export: face crops to the
input tensor, its test-time views, and logits to calibrated probabilities."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from ..core.errors import CheckpointError
from ..core.spec import META_PREFIX, TTA_MODES, ModelSpec
from .image import to_bgr8, to_gray8


@dataclass(frozen=True)
class LogitCalibration:
    """A per-class bias and a temperature on the model's logits: ``logits / temperature + bias``.

    Fitted on the validation domains by ``ferlite calibrate`` (never on a test split) and stored in the model
    file's metadata, so that every user of the file gets the calibrated scores. The bias moves the decision
    between classes (it undoes a training prior that sends faces to "neutral"); the temperature only sharpens or
    softens the scores.

    Example:
        >>> cal = LogitCalibration(2.0, (0.0, 1.0))
        >>> cal.apply(np.array([[2.0, 2.0]], np.float32)).tolist()
        [[1.0, 2.0]]
    """

    temperature: float = 1.0
    bias: tuple[float, ...] = ()

    def apply(self, logits: np.ndarray) -> np.ndarray:
        out = logits / np.float32(self.temperature)
        return out + np.asarray(self.bias, np.float32) if self.bias else out

    def to_metadata(self) -> dict[str, str]:
        return {
            META_PREFIX + "logit_temperature": repr(float(self.temperature)),
            META_PREFIX + "logit_bias": json.dumps([round(float(b), 6) for b in self.bias]),
        }

    @classmethod
    def from_metadata(cls, meta: dict[str, str], n_labels: int, source: str) -> LogitCalibration:
        """The calibration a model file declares (none: identity); a malformed one is a CheckpointError."""
        if META_PREFIX + "logit_temperature" not in meta and META_PREFIX + "logit_bias" not in meta:
            return cls()
        try:
            t = float(meta.get(META_PREFIX + "logit_temperature", "1"))
            bias = tuple(float(b) for b in json.loads(meta.get(META_PREFIX + "logit_bias", "[]")))
        except (TypeError, ValueError) as e:
            raise CheckpointError(f"{source}: malformed logit calibration in its metadata ({e})") from None
        if not (np.isfinite(t) and t > 0) or not all(np.isfinite(bias)):
            raise CheckpointError(f"{source}: logit calibration must have a finite temperature above 0 and finite biases")
        if bias and len(bias) != n_labels:
            raise CheckpointError(f"{source}: logit bias has {len(bias)} values for {n_labels} labels")
        return cls(t, bias)


def preprocess_faces(crops: Sequence[np.ndarray], spec: ModelSpec) -> np.ndarray:
    """Face crops (BGR, BGRA or gray, uint8 or uint16) -> float32 (N, 3, S, S) model input.

    Matches the training eval preset: gray (``gray2rgb`` models) or RGB (``rgb`` models, a gray crop repeated),
    bilinear resize, (x/255 - mean)/std.

    Example:
        >>> x = preprocess_faces([np.zeros((80, 60, 3), np.uint8)], ModelSpec(input_size=64))
        >>> x.shape
        (1, 3, 64, 64)
        >>> blue = np.zeros((8, 8, 3), np.uint8); blue[..., 0] = 255
        >>> [round(float(v), 2) for v in preprocess_faces([blue], ModelSpec(input_size=8, color_mode="rgb"))[0, :, 0, 0]]
        [-2.12, -2.04, 2.64]
    """
    s = spec.input_size
    out = np.empty((len(crops), 3, s, s), np.float32)
    mean = np.asarray(spec.mean, np.float32).reshape(3, 1, 1)
    std = np.asarray(spec.std, np.float32).reshape(3, 1, 1)
    for i, crop in enumerate(crops):
        face = cv2.cvtColor(to_bgr8(crop), cv2.COLOR_BGR2RGB) if spec.takes_colour else to_gray8(crop)
        if face.shape[:2] != (s, s):  # aligned crops come at the input size already
            face = cv2.resize(face, (s, s), interpolation=cv2.INTER_LINEAR)
        out[i] = (face.transpose(2, 0, 1) if face.ndim == 3 else face[None]).astype(np.float32) / 255.0
    out -= mean
    out /= std
    return out


# Test-time augmentation: the views of each face whose logits are averaged. "flip" adds the mirror image;
# "shift-flip" adds both shifted by SHIFT_FRACTION of the side in each of four directions (10 views), a cheap
# form of the ten-crop testing common in FER2013 papers. Chosen on PublicTest per model: it helps some models
# and not others (MODEL_CARD.md).
SHIFT_FRACTION = 0.04


def check_tta(tta: str) -> str:
    """``tta`` if it names a test-time augmentation, else a ValueError listing them."""
    if tta not in TTA_MODES:
        raise ValueError(f"unknown test-time augmentation {tta!r}; choose one of {', '.join(TTA_MODES)}")
    return tta


def tta_views(batch: np.ndarray, tta: str) -> list[np.ndarray]:
    """The test-time views of a preprocessed batch (N, 3, S, S), each (N, 3, S, S) and contiguous.

    Shifted views repeat the edge pixels into the uncovered border.

    Example:
        >>> len(tta_views(np.zeros((2, 3, 96, 96), np.float32), "shift-flip"))
        10
    """
    views = [batch]
    if check_tta(tta) == "shift-flip":
        s = batch.shape[-1]
        d = max(1, round(s * SHIFT_FRACTION))
        padded = np.pad(batch, ((0, 0), (0, 0), (d, d), (d, d)), mode="edge")
        views += [padded[:, :, y : y + s, x : x + s] for y, x in ((0, d), (2 * d, d), (d, 0), (d, 2 * d))]
    if tta != "none":
        views += [v[..., ::-1] for v in views]
    return [np.ascontiguousarray(v) for v in views]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
