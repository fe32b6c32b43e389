"""Face detectors behind one small interface: ``detect(bgr) -> Faces``.

- ``YuNetDetector`` (default): YuNet (MIT), shipped inside the package, with 5 landmarks per face for eye alignment;
  on ONNX Runtime, or on OpenCV's ``cv2.FaceDetectorYN`` without it.
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
from ..core.paths import asset_path, find_shared
from .engines import chosen_backend, onnxruntime_options
from .faces import Faces

YUNET_FILE = "face_detection_yunet_2026may.onnx"
MAX_INPUT_SIZES = 8  # YuNet networks kept per detector, one per input size (the whole frame, the regions' shapes, ...)
GRID = 32  # YuNet's largest stride: it pads its input to a multiple of this anyway


@runtime_checkable
class Detector(Protocol):
    """Anything that finds faces in a BGR uint8 image. ``max_side`` is the longer side the image is shrunk to for this
    call (a still photo's detection size, larger than video's); a detector with a fixed input size ignores it."""

    def detect(self, bgr: np.ndarray, max_side: int | None = None) -> Faces: ...


def bundled_yunet_path() -> Path:
    return asset_path(YUNET_FILE)


class YuNetOnOnnxRuntime:
    """YuNet's network on ONNX Runtime, and its output decoded here: what ``cv2.FaceDetectorYN`` gives (rows of a box
    x, y, w, h, five landmarks and a score, best first), for less. On the 2-core VM, one thread each, a detection of a
    region at 128 px took 0.70 ms against OpenCV's 1.18, and of a whole frame at 320 px 2.37 against 5.17
    (``python benchmarks/yunet_engines.py``, medians of 5 rounds).

    YuNet predicts, at each cell of three grids (strides 8, 16 and 32), a face's class and objectness scores, its box
    centre as an offset from the cell and its size as a log of strides, and five landmarks as offsets; the score is the
    geometric mean of the two scores. The input is padded to a multiple of the largest stride (``GRID``), as OpenCV
    pads it.
    """

    STRIDES = (8, 16, 32)

    def __init__(self, path: Path, score_threshold: float, nms_threshold: float, threads: int = 1) -> None:
        import onnxruntime as ort

        try:
            self.session = ort.InferenceSession(str(path), onnxruntime_options(threads), providers=["CPUExecutionProvider"])
        except Exception as e:  # ONNX Runtime raises its own exception types for a file it cannot load
            raise CheckpointError(f"{path}: not a YuNet ONNX model ({str(e).strip()[:200]})") from None
        outputs = [o.name for o in self.session.get_outputs()]
        wanted = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in self.STRIDES]
        if sorted(outputs) != sorted(wanted):
            raise CheckpointError(f"{path}: not a YuNet ONNX model (its outputs are {outputs})")
        self.input_name, self.output_names = self.session.get_inputs()[0].name, wanted
        self.score_threshold, self.nms_threshold = score_threshold, nms_threshold
        self._cells: dict[tuple[int, int], list[np.ndarray]] = {}

    def _cells_for(self, h: int, w: int) -> list[np.ndarray]:
        """Each grid's cell (column, row) per prediction, in the network's row-major order."""
        cells = self._cells.get((h, w))
        if cells is None:
            cells = []
            for stride in self.STRIDES:
                rows, cols = h // stride, w // stride
                c, r = np.meshgrid(np.arange(cols, dtype=np.float32), np.arange(rows, dtype=np.float32))
                cells.append(np.stack([c.ravel(), r.ravel()], 1))
            if len(self._cells) >= MAX_INPUT_SIZES:
                self._cells.pop(next(iter(self._cells)))
            self._cells[(h, w)] = cells
        return cells

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        """Rows of x, y, w, h, five (x, y) landmarks and the score, in ``bgr``'s pixels, best first."""
        bgr = padded_to_grid(bgr)
        blob = bgr.transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0-255: YuNet takes the pixels as they are
        out = dict(zip(self.output_names, self.session.run(self.output_names, {self.input_name: blob})))
        rows = []
        for stride, cells in zip(self.STRIDES, self._cells_for(*bgr.shape[:2])):
            cls, obj = out[f"cls_{stride}"][0, :, 0], out[f"obj_{stride}"][0, :, 0]
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            keep = np.flatnonzero(score >= self.score_threshold)
            if len(keep) == 0:
                continue
            cell, box, kps = cells[keep], out[f"bbox_{stride}"][0, keep], out[f"kps_{stride}"][0, keep]
            size = np.exp(box[:, 2:4]) * stride
            corner = (cell + box[:, :2]) * stride - size / 2
            landmarks = (np.tile(cell, 5) + kps) * stride
            rows.append(np.concatenate([corner, size, landmarks, score[keep, None]], 1))
        if not rows:
            return np.zeros((0, 15), np.float32)
        found = np.concatenate(rows).astype(np.float32)
        best = cv2.dnn.NMSBoxes(
            found[:, :4].tolist(), found[:, 14].tolist(), self.score_threshold, self.nms_threshold, top_k=5000
        )
        return found[np.asarray(best, np.int64).reshape(-1)]


class YuNetDetector:
    """YuNet, run on a downscaled copy of the frame for speed: on ONNX Runtime (:class:`YuNetOnOnnxRuntime`) where it
    is installed, else through OpenCV's ``cv2.FaceDetectorYN``.

    Args:
        model_path: YuNet ONNX file (default: the bundled one).
        score_threshold: minimum face score.
        nms_threshold: overlap above which boxes are merged.
        max_side: frames are shrunk so that their longer side is at most this before
            detection (boxes are scaled back). Smaller is faster but misses small faces.
        backend: ``"onnxruntime"`` or ``"opencv"`` (default: onnxruntime when it can be imported).

    Example:
        >>> faces = YuNetDetector().detect(cv2.imread("photo.jpg"))  # doctest: +SKIP
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        score_threshold: float = 0.7,
        nms_threshold: float = 0.3,
        max_side: int = 320,
        backend: str | None = None,
    ) -> None:
        self.path = Path(model_path) if model_path else bundled_yunet_path()
        if not self.path.is_file():
            raise CheckpointError(f"{self.path}: YuNet model not found")
        self.max_side, self.score_threshold, self.nms_threshold = max_side, score_threshold, nms_threshold
        self.backend = chosen_backend(backend)
        self._onnxruntime = (
            YuNetOnOnnxRuntime(self.path, score_threshold, nms_threshold) if self.backend == "onnxruntime" else None
        )
        # One network per input size: changing a network's input size costs more than the detection itself, and
        # video alternates between the whole frame and regions of a few shapes (see ``detect(..., pad_to_grid=True)``).
        self._nets: dict[tuple[int, int], cv2.FaceDetectorYN] = {}
        if self._onnxruntime is None:  # a bad file fails here, not at the first frame
            try:
                self._net_for((320, 320)).detect(np.zeros((320, 320, 3), np.uint8))
            except cv2.error as e:  # another ONNX model loads, and fails on its first input
                raise CheckpointError(f"{self.path}: not a YuNet ONNX model ({str(e).strip()[:200]})") from None

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

    def detect(self, bgr: np.ndarray, max_side: int | None = None, pad_to_grid: bool = False) -> Faces:
        """Faces in a BGR image; ``max_side`` overrides the detection size for this call (a still photo).

        ``pad_to_grid``: detect on a canvas whose sides are the shrunk image's rounded up to a multiple of
        ``GRID`` (zero-padded on the right and bottom), so that images of varying shapes, such as the regions around
        tracked faces, reuse a few networks (a network's input size is costly to change).
        """
        h, w = bgr.shape[:2]
        side = max_side or self.max_side
        scale = min(1.0, side / max(h, w))
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        if scale == 1:
            img = bgr
        elif pad_to_grid:
            img = shrink_by_halves(bgr, size)
        else:  # the whole frame exactly as the browser page's pipeline shrinks it (static/ferlite.js)
            img = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
        if pad_to_grid:
            img = padded_to_grid(img)
        if self._onnxruntime is not None:
            rows = self._onnxruntime.detect(img)
        else:
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

    def detect(self, bgr: np.ndarray, max_side: int | None = None) -> Faces:
        h, w = bgr.shape[:2]
        scale = min(1.0, (max_side or self.max_side) / max(h, w))
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

    def detect(self, bgr: np.ndarray, max_side: int | None = None) -> Faces:
        """Faces in a BGR image; the network's input is 300x300 whatever ``max_side`` says."""
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


SSD_FILES = ("weights/opencv_face_detector_uint8.pb", "weights/opencv_face_detector.pbtxt")


def build_detector(name: str, ssd_model: list[str] | tuple[str, str] | None = None) -> Detector | None:
    """The detector ``--detector`` names, or None for ``yunet``, the Recognizer's own; ``ssd`` takes ``--ssd-model PB
    PBTXT`` or the shared weights folder, and says where to get its files when neither has them."""
    if name == "yunet":
        return None
    kwargs = {}
    if name == "ssd":
        try:
            pb, pbtxt = ssd_model or tuple(find_shared(f) for f in SSD_FILES)
        except FileNotFoundError:
            raise UsageError(
                "--detector ssd needs OpenCV's res10 SSD face detector: opencv_face_detector_uint8.pb and "
                "opencv_face_detector.pbtxt (from OpenCV's samples/dnn/face_detector, download_weights.py); pass them "
                "with --ssd-model PB PBTXT"
            ) from None
        kwargs = {"pb_path": pb, "pbtxt_path": pbtxt}
    return create_detector(name, **kwargs)


def shrink_by_halves(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` shrunk to ``size`` (width, height): halved by pixel averaging while it stays at least twice the
    target, then bilinear for the last step (under 2x, so little aliases). OpenCV's ``INTER_AREA`` in one step is
    several times slower at ratios other than 2, and a region is shrunk on most frames of a video; the pipeline's
    speed with each: ``python benchmarks/region_settings.py``, its recall: ``benchmarks/region_recall.py``.

    Example:
        >>> shrink_by_halves(np.zeros((480, 640, 3), np.uint8), (128, 96)).shape
        (96, 128, 3)
    """
    w, h = size
    while image.shape[1] >= 2 * w and image.shape[0] >= 2 * h:
        even = image[: image.shape[0] // 2 * 2, : image.shape[1] // 2 * 2]  # even sides: OpenCV's fast 2x2 average
        image = cv2.resize(even, (even.shape[1] // 2, even.shape[0] // 2), interpolation=cv2.INTER_AREA)
    if (image.shape[1], image.shape[0]) == (w, h):
        return image
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_LINEAR)


def padded_to_grid(image: np.ndarray) -> np.ndarray:
    """``image`` zero-padded on the right and bottom to sides that are multiples of ``GRID``, as YuNet takes it.

    Example:
        >>> padded_to_grid(np.zeros((96, 100, 3), np.uint8)).shape
        (96, 128, 3)
    """
    pad_h, pad_w = -image.shape[0] % GRID, -image.shape[1] % GRID
    if not (pad_h or pad_w):
        return image
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=0)


def _clip(xyxy: np.ndarray, w: int, h: int) -> np.ndarray:
    xyxy = np.asarray(xyxy, np.float32).copy()
    xyxy[:, [0, 2]] = xyxy[:, [0, 2]].clip(0, w)
    xyxy[:, [1, 3]] = xyxy[:, [1, 3]].clip(0, h)
    return xyxy
