"""Face detectors behind one small interface: ``detect(bgr) -> Faces``.

- ``YuNetDetector`` (default): OpenCV's YuNet (MIT), shipped inside the package, with 5
  landmarks per face for eye alignment.
- ``HaarDetector``: OpenCV's frontal-face Haar cascade (ships with opencv-python).
- ``SSDDetector``: OpenCV's res10 SSD (TensorFlow uint8 graph; pass its two files).

Any object with a ``detect`` method returning :class:`Faces` plugs into the pipeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import cv2
import numpy as np

from ..core.errors import CheckpointError, UsageError
from ..core.paths import asset_path
from .faces import Faces

YUNET_FILE = "face_detection_yunet_2026may.onnx"
MAX_INPUT_SIZES = 4  # YuNet networks kept per detector, one per input size (the whole frame, the regions, ...)


@runtime_checkable
class Detector(Protocol):
    """Anything that finds faces in a BGR uint8 image."""

    def detect(self, bgr: np.ndarray) -> Faces: ...


def bundled_yunet_path() -> Path:
    return asset_path(YUNET_FILE)


class YuNetDetector:
    """YuNet via ``cv2.FaceDetectorYN``, run on a downscaled copy of the frame for speed.

    Args:
        model_path: YuNet ONNX file (default: the bundled one).
        score_threshold: minimum face score.
        nms_threshold: overlap above which boxes are merged.
        max_side: frames are shrunk so that their longer side is at most this before
            detection (boxes are scaled back). Smaller is faster but misses small faces.

    Example:
        >>> faces = YuNetDetector().detect(cv2.imread("photo.jpg"))  # doctest: +SKIP
    """

    def __init__(
        self, model_path: str | Path | None = None, score_threshold: float = 0.7, nms_threshold: float = 0.3, max_side: int = 320
    ) -> None:
        self.path = Path(model_path) if model_path else bundled_yunet_path()
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: YuNet model not found")
        self.max_side, self.score_threshold, self.nms_threshold = max_side, score_threshold, nms_threshold
        # One network per input size: changing a network's input size costs more than the detection itself, and
        # video alternates between the whole frame and fixed-size regions (see ``detect(..., pad_to_square=True)``).
        self._nets: dict[tuple[int, int], cv2.FaceDetectorYN] = {}
        self._net_for((320, 320))  # a bad file fails here, not at the first frame

    def _net_for(self, size: tuple[int, int]) -> cv2.FaceDetectorYN:
        net = self._nets.get(size)
        if net is None:
            if len(self._nets) >= MAX_INPUT_SIZES:  # a stream of ever-new sizes (photos) reuses one network
                net = self._nets.pop(next(iter(self._nets)))
                net.setInputSize(size)
            else:
                try:
                    net = cv2.FaceDetectorYN.create(str(self.path), "", size, self.score_threshold, self.nms_threshold, 5000)
                except cv2.error as e:
                    raise CheckpointError(f"{self.path}: not a YuNet ONNX model ({str(e).strip()[:200]})") from None
            self._nets[size] = net
        return net

    def detect(self, bgr: np.ndarray, max_side: int | None = None, pad_to_square: bool = False) -> Faces:
        """Faces in a BGR image; ``max_side`` overrides the detection size for this call (a still photo).

        ``pad_to_square``: detect on a ``max_side`` x ``max_side`` canvas (the shrunk image, zero-padded on the right
        and bottom), so that images of varying shapes, such as the regions around tracked faces, reuse one network.
        """
        h, w = bgr.shape[:2]
        side = max_side or self.max_side
        scale = min(1.0, side / max(h, w))
        img = (
            cv2.resize(bgr, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
            if scale < 1
            else bgr
        )
        if pad_to_square:
            img = cv2.copyMakeBorder(img, 0, side - img.shape[0], 0, side - img.shape[1], cv2.BORDER_CONSTANT, value=0)
        _, rows = self._net_for((img.shape[1], img.shape[0])).detect(img)
        if rows is None or len(rows) == 0:
            return Faces.empty()
        boxes = np.asarray(rows, np.float32) / np.array([scale] * 14 + [1.0], np.float32)
        xyxy = np.stack([boxes[:, 0], boxes[:, 1], boxes[:, 0] + boxes[:, 2], boxes[:, 1] + boxes[:, 3]], 1)
        return Faces(_clip(xyxy, w, h), boxes[:, 14], landmarks=boxes[:, 4:14].reshape(-1, 5, 2))


class HaarDetector:
    """OpenCV's frontal-face Haar cascade (no landmarks, so no alignment)."""

    def __init__(
        self,
        cascade_path: str | Path | None = None,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 30,
        max_side: int = 640,
    ) -> None:
        cascades = Path(cv2.data.haarcascades)  # type: ignore[attr-defined]  # opencv's stubs omit cv2.data
        path = str(cascade_path or cascades / "haarcascade_frontalface_default.xml")
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise CheckpointError(f"{path}: not a loadable Haar cascade")
        self.scale_factor, self.min_neighbors, self.min_size, self.max_side = scale_factor, min_neighbors, min_size, max_side

    def detect(self, bgr: np.ndarray) -> Faces:
        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        if scale < 1:
            gray = cv2.resize(gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        boxes, _, weights = self._cascade.detectMultiScale3(
            gray, self.scale_factor, self.min_neighbors, minSize=(self.min_size, self.min_size), outputRejectLevels=True
        )
        if len(boxes) == 0:
            return Faces.empty()
        b = np.asarray(boxes, np.float32) / scale
        xyxy = np.concatenate([b[:, :2], b[:, :2] + b[:, 2:]], 1)
        conf = 1 / (1 + np.exp(-np.asarray(weights, np.float32).reshape(-1)))  # cascade weights -> (0, 1)
        return Faces(_clip(xyxy, w, h), conf)


class SSDDetector:
    """OpenCV's res10 SSD face detector (TensorFlow uint8 graph, 300x300 input).

    Example:
        >>> SSDDetector("opencv_face_detector_uint8.pb", "opencv_face_detector.pbtxt")  # doctest: +SKIP
    """

    def __init__(self, pb_path: str | Path, pbtxt_path: str | Path, score_threshold: float = 0.6) -> None:
        for p in (pb_path, pbtxt_path):
            if not Path(p).is_file():
                raise CheckpointError(f"{p}: SSD model file not found")
        try:
            self._net = cv2.dnn.readNetFromTensorflow(str(pb_path), str(pbtxt_path))
        except cv2.error as e:
            raise CheckpointError(f"{pb_path}: not a loadable res10 SSD graph ({str(e).strip()[:200]})") from None
        self.score_threshold = score_threshold

    def detect(self, bgr: np.ndarray) -> Faces:
        h, w = bgr.shape[:2]
        blob = cv2.dnn.blobFromImage(bgr, 1.0, (300, 300), (104.0, 177.0, 123.0), swapRB=False, crop=False)
        self._net.setInput(blob)
        det = self._net.forward()[0, 0]
        det = det[det[:, 2] >= self.score_threshold]
        if len(det) == 0:
            return Faces.empty()
        xyxy = det[:, 3:7] * np.array([w, h, w, h], np.float32)
        return Faces(_clip(xyxy, w, h), det[:, 2])


def create_detector(name: str = "yunet", **kwargs) -> Detector:
    """``yunet`` (default), ``haar`` or ``ssd`` (needs ``pb_path`` and ``pbtxt_path``)."""
    makers = {"yunet": YuNetDetector, "haar": HaarDetector, "ssd": SSDDetector}
    if name not in makers:
        raise UsageError(f"unknown detector {name!r}; choose one of {', '.join(makers)}")
    return makers[name](**kwargs)


def _clip(xyxy: np.ndarray, w: int, h: int) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float32).copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return xyxy
