"""The pipeline: detect -> align -> classify (batched) -> track and smooth.

Example:
    >>> from ferlite import Recognizer
    >>> rec = Recognizer()  # bundled detector and emotion model  # doctest: +SKIP
    >>> for face in rec.predict(cv2.imread("photo.jpg")).to_dicts():  # doctest: +SKIP
    ...     print(face["label"], face["box"])
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ..errors import CheckpointError, UsageError
from ..paths import asset_path
from .align import align_crops
from .classifier import EmotionClassifier
from .detector import Detector, YuNetDetector
from .faces import Faces
from .image import read_image_scaled, to_bgr8
from .tracker import FaceTracker, ScoreSmoother
from .video import FrameSource

DEFAULT_MODEL = "emotion_default.int8.onnx"
# The bundled emotion models by name (MODEL_CARD.md): the fast 96 px FERPlus default, the 224 px FERPlus model that
# is more accurate and costs about 4 times more per face, and the 224 px model with FER2013's original 7 classes
# (no contempt), for work that must match FER2013's labels; it was chosen with ten-view TTA (tta="shift-flip").
# The detection size of still photos: a 3072x2048 group photo's 110 px faces are about 46 px at 1280, where YuNet
# finds them; at video's 320 they are 11 px and most are lost.
PHOTO_DET_SIZE = 1280
# Faces a still photo reports; video also passes faces down to LOW_CONFIDENCE to the tracker, which keeps them only
# when they continue a track (FaceTracker's second stage).
PHOTO_MIN_CONFIDENCE = 0.7
LOW_CONFIDENCE = 0.4

BUNDLED_MODELS = {
    "default": DEFAULT_MODEL,
    "accurate": "emotion_accurate.int8.onnx",
    "fer2013": "emotion_fer2013.int8.onnx",
}


DEVICES = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


def providers_for(device: str) -> list[str]:
    """ONNX Runtime execution providers for ``--device``: ``cpu``, or ``cuda`` (then the CPU for what CUDA lacks).

    Example:
        >>> providers_for("cuda")
        ['CUDAExecutionProvider', 'CPUExecutionProvider']
    """
    if device not in DEVICES:
        raise UsageError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    return list(DEVICES[device])


def default_model_path() -> Path:
    """The int8 emotion model shipped inside the package."""
    return asset_path(DEFAULT_MODEL)


def resolve_model_path(model: str | Path | None) -> Path:
    """An emotion model's file: a bundled model's name (see ``BUNDLED_MODELS``), a path, or None for the default.

    Raises:
        CheckpointError: ``model`` is neither a bundled model's name nor an existing file.

    Example:
        >>> resolve_model_path("accurate").name
        'emotion_accurate.int8.onnx'
        >>> resolve_model_path(None).name
        'emotion_default.int8.onnx'
    """
    if model is None:
        return default_model_path()
    if str(model) in BUNDLED_MODELS:
        return asset_path(BUNDLED_MODELS[str(model)])
    if not Path(model).is_file():  # a mistyped name would otherwise read as a missing file only
        raise CheckpointError(f"{model}: model file not found, and not a bundled model ({', '.join(BUNDLED_MODELS)})")
    return Path(model)


class Recognizer:
    """Faces and their emotions in images and video.

    Args:
        model_path: an emotion ONNX model from ``ferlite export``, or a bundled model's name
            (``"default"``, ``"accurate"``, ``"fer2013"``; None: the default).
        detector: any :class:`Detector` (default: the bundled YuNet).
        threads: ONNX Runtime threads for the classifier.
        margin: extra context around each face box (fraction of its side).
        align: level the eyes using the detector's landmarks.
        tracker: used by :meth:`stream` and :meth:`update`; default ``FaceTracker()``.
        smoother: smooths each track's scores in :meth:`stream` and :meth:`update`; default ``ScoreSmoother()``.
        detect_every: in :meth:`update` and :meth:`stream`, run the detector on every
            n-th frame only and reuse the tracked boxes in between (emotions are still
            classified on every frame). Detection is most of a frame's cost, so 2 or 3
            roughly doubles or triples the frame rate; boxes then lag fast head motion
            by up to n-1 frames.
        det_size: the longer side still photos are shrunk to for detection in :meth:`predict` (default: the photo's
            own, up to ``PHOTO_DET_SIZE``, so that a group photo's small faces are found; YuNet misses faces under
            about 20 px at detection scale). Video keeps the detector's own, faster size.
        device: ``"cpu"`` (default) or ``"cuda"`` for the emotion model (needs onnxruntime-gpu; see ``providers_for``).
        tta: test-time augmentation of the classifier: ``"none"``, ``"flip"`` or ``"shift-flip"`` (see
            :class:`EmotionClassifier`); default: the model's own (``"fer2013"``: ten views, which its 73.0% needs).

    Example:
        >>> rec = Recognizer(threads=2)  # doctest: +SKIP
        >>> faces = rec.predict(bgr)  # doctest: +SKIP
        >>> faces.label, faces.xyxy  # doctest: +SKIP
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        detector: Detector | None = None,
        threads: int | None = None,
        margin: float = 0.15,
        align: bool = True,
        tracker: FaceTracker | None = None,
        detect_every: int = 1,
        tta: str | None = None,
        smoother: ScoreSmoother | None = None,
        det_size: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.classifier = EmotionClassifier(
            resolve_model_path(model_path), threads=threads, tta=tta, providers=providers_for(device)
        )
        # The bundled YuNet also reports low-confidence faces, for the tracker's second stage in video; a still
        # photo keeps only the confident ones. A detector of the caller's is taken as it is.
        self.detector = detector or YuNetDetector(score_threshold=LOW_CONFIDENCE)
        self.photo_min_confidence = PHOTO_MIN_CONFIDENCE if detector is None else 0.0
        self.margin, self.align = margin, align
        self.labels = self.classifier.labels
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        self.detect_every = detect_every
        if det_size is not None and det_size < 32:
            raise ValueError(f"det_size must be at least 32 px, got {det_size}")
        self.det_size = det_size
        self._stream = self.new_stream(tracker, smoother)

    @property
    def tracker(self) -> FaceTracker:
        """The tracker of :meth:`update` and :meth:`stream`."""
        return self._stream.tracker

    @property
    def smoother(self) -> ScoreSmoother:
        """The score smoother of :meth:`update` and :meth:`stream`."""
        return self._stream.smoother

    def new_stream(self, tracker: FaceTracker | None = None, smoother: ScoreSmoother | None = None) -> FaceStream:
        """A separate video stream over this recognizer's detector and classifier: its own tracker, smoother and
        detect-every state (one per web client or camera), sharing the models.

        Example:
            >>> stream = Recognizer().new_stream()  # doctest: +SKIP
            >>> faces = stream.update(frame)  # doctest: +SKIP
        """
        return FaceStream(self, tracker or FaceTracker(), smoother or ScoreSmoother())

    def predict(self, image: np.ndarray | str | Path) -> Faces:
        """Faces in one image with their emotion probabilities (no tracking).

        Accepts an image file's path, or a BGR, BGRA or grayscale array, 8- or 16-bit. Boxes and landmarks are in
        the image's own pixels, whatever its size.

        Example:
            >>> Recognizer().predict("tests/fixtures/astronaut_nasa_512.png").label  # doctest: +SKIP
            ['happy']
        """
        scale = 1.0
        if isinstance(image, (str, Path)):
            image, scale = read_image_scaled(image)
        bgr = to_bgr8(image)
        size = self.det_size or min(max(bgr.shape[:2]), PHOTO_DET_SIZE)
        faces = (
            self.detector.detect(bgr, max_side=size) if isinstance(self.detector, YuNetDetector) else self.detector.detect(bgr)
        )
        faces = faces[faces.confidence >= self.photo_min_confidence]
        return self.classify(bgr, faces).scaled(1.0 / scale)

    def classify_crops(self, crops: Sequence[np.ndarray]) -> Faces:
        """Emotion scores for faces you have already cropped (no detection): one labelled row per crop.

        Each crop is used whole, as the model's training faces were; the boxes are the crops' own extents.

        Example:
            >>> faces = Recognizer().classify_crops([face1, face2])  # doctest: +SKIP
            >>> faces.label, faces.scores.shape  # doctest: +SKIP
            (['happy', 'sad'], (2, 8))
        """
        crops = [to_bgr8(c) for c in crops]
        boxes = np.array([[0, 0, c.shape[1], c.shape[0]] for c in crops], np.float32).reshape(-1, 4)
        scores = self.classifier.predict(crops) if crops else np.zeros((0, len(self.labels)), np.float32)
        return Faces(boxes, np.ones(len(crops), np.float32), scores=scores, labels=self.labels)

    def classify(self, bgr: np.ndarray, faces: Faces) -> Faces:
        """Emotion probabilities for given face boxes (and landmarks) in a BGR frame."""
        crops = align_crops(bgr, faces, self.classifier.pre.input_size, self.margin, self.align)
        return faces.with_(scores=self.classifier.predict(crops), labels=self.labels)

    def update(self, frame: np.ndarray) -> Faces:
        """Like :meth:`predict` for the next video frame, then track: stable IDs and smoothed probabilities."""
        return self._stream.update(frame)

    def reset(self) -> None:
        """Forget tracks, averages and reused boxes (between videos)."""
        self._stream.reset()

    def stream(self, source: str | int | Path | FrameSource) -> Iterator[tuple[int, np.ndarray, Faces]]:
        """``(frame index, frame, faces)`` for each frame of a video, camera or URL.

        Example:
            >>> for i, frame, faces in Recognizer().stream("clip.mp4"):  # doctest: +SKIP
            ...     print(i, faces.label, faces.tracker_id)
        """
        frames = source if isinstance(source, FrameSource) else FrameSource(source)
        self.reset()
        for index, frame in frames:
            yield index, frame, self.update(frame)


class FaceStream:
    """The per-video state of a :class:`Recognizer`: its tracker, score smoother and detect-every counter.

    The recognizer holds the models and is stateless in :meth:`Recognizer.predict`; each stream (a video, a
    camera, a web client) gets its own ``FaceStream`` from :meth:`Recognizer.new_stream`.
    """

    def __init__(self, recognizer: Recognizer, tracker: FaceTracker, smoother: ScoreSmoother) -> None:
        self.recognizer, self.tracker, self.smoother = recognizer, tracker, smoother
        self.reset()

    def reset(self) -> None:
        """Forget tracks, averages and reused boxes."""
        self.tracker.reset()
        self.smoother.reset()
        self._last, self._frames_since_detection = Faces.empty(), 0

    def update(self, frame: np.ndarray) -> Faces:
        """Detect (or reuse the tracked boxes between detections), classify, track and smooth one frame."""
        rec, bgr = self.recognizer, to_bgr8(frame)
        if self._frames_since_detection % rec.detect_every == 0 or len(self._last) == 0:
            faces = rec.detector.detect(bgr)
            self._frames_since_detection = 0
        else:
            faces = self._last.with_(scores=None, tracker_id=None)
        self._frames_since_detection += 1
        # Track first: the tracker drops the low-confidence detections that continue no track, so only the faces
        # it keeps are classified.
        self._last = self.smoother.update(rec.classify(bgr, self.tracker.update(faces)))
        return self._last
