"""The pipeline: detect -> align -> classify (batched) -> track and smooth.

Example:
    >>> from ferlite import Recognizer
    >>> rec = Recognizer()  # bundled detector and emotion model  # doctest: +SKIP
    >>> for face in rec.predict(cv2.imread("photo.jpg")).to_dicts():  # doctest: +SKIP
    ...     print(face["label"], face["x1"], face["y1"], face["x2"], face["y2"])
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import CheckpointError, UsageError
from ..core.paths import asset_path
from .align import align_crops
from .classifier import EmotionClassifier
from .detector import Detector, YuNetDetector
from .faces import Faces
from .image import read_image_scaled, to_bgr8
from .tracker import FaceTracker, ScoreSmoother, box_iou
from .video import FrameSource

DEFAULT_MODEL = "emotion_default.int8.onnx"
# The detection size of still photos: a 3072x2048 group photo's 110 px faces are about 46 px at 1280, where YuNet
# finds them; at video's 320 they are 11 px and most are lost.
PHOTO_DET_SIZE = 1280
# Faces a still photo reports; video also passes faces down to LOW_CONFIDENCE to the tracker, which keeps them only
# when they continue a track (FaceTracker's second stage).
PHOTO_MIN_CONFIDENCE = 0.7
# In video, the whole frame is scanned for new faces every this many detections; between, only around tracked faces
# and the last scan's near-threshold faces. 10 with 128 px regions ran faster than 5 with 160 px in 10 of 10 and 7 of
# 10 paired rounds (medians 1.22x and 1.13x; benchmarks/region_settings.py), at 99.5% recall of full-frame detection
# on the hikers clip and 100% on the others (benchmarks/region_recall.py).
FULL_SCAN_EVERY = 10
LOW_CONFIDENCE = 0.4

# The classifier's ONNX Runtime threads in the pipeline: a frame's classification is a batch of a face or a few, and
# its threads compete with YuNet's (OpenCV's pool). One thread ran the one-face clip faster than two, end to end with
# decoding, in each of 6 paired rounds on the 2-core VM (docs/BENCHMARKS.md, benchmarks/threads.py).
VIDEO_THREADS = 1

# The bundled emotion models by name (MODEL_CARD.md): the 112 px default trained on faces from three sources; accurate,
# a 112 px and a 160 px network averaged in one file, better on every test domain at about 3x the cost per face; and
# the 224 px model with FER2013's original 7 classes (no contempt), for work that must match FER2013's labels, whose
# file declares the ten-view TTA it was chosen with.
BUNDLED_MODELS = {
    "default": DEFAULT_MODEL,
    "accurate": "emotion_accurate.int8.onnx",
    "fer2013": "emotion_fer2013.int8.onnx",
}
# The terms each bundled model inherits from its training data, shown wherever a model is in use (ferlite --version,
# the server's /health), so that nobody uses a non-commercial model without being told.
NON_COMMERCIAL = "non-commercial research use only: trained on RAF-DB and AffectNet, released for non-commercial research"
MODEL_TERMS = {
    DEFAULT_MODEL: NON_COMMERCIAL,
    "emotion_accurate.int8.onnx": NON_COMMERCIAL,
    "emotion_fer2013.int8.onnx": "research use: trained on FER2013 (ICML 2013 challenge data, research terms)",
}


def model_terms(model_path: str | Path) -> str:
    """The terms of use of an emotion model file: a bundled model's, from its training data; for any other file, a
    reminder that its terms are those of the data it was trained on.

    Example:
        >>> model_terms(resolve_model_path("default")).startswith("non-commercial research use only")
        True
    """
    return MODEL_TERMS.get(Path(model_path).name, "not a bundled model: its terms are those of the data it was trained on")


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
        threads: ONNX Runtime threads for the classifier (default ``VIDEO_THREADS``: one, so that OpenCV's YuNet has
            the other cores; a batch job through :class:`EmotionClassifier` takes all of them by default).
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
        full_scan_every: in video, detect on the whole frame every n-th detection (and whenever nothing is
            tracked or a face was lost); in between, only around the tracked faces, which costs a fraction of a
            full pass. 1: always the whole frame. New faces appear within n frames.
        device: ``"cpu"`` (default) or ``"cuda"`` for the emotion model (needs onnxruntime-gpu; see ``providers_for``).
        tta: test-time augmentation of the classifier: ``"none"``, ``"flip"`` or ``"shift-flip"`` (see
            :class:`EmotionClassifier`); default: the model's own (``"fer2013"``: ten views, which its 73.0% needs).
        backend: the emotion model's engine, ``"onnxruntime"`` or ``"opencv"`` (see :class:`EmotionClassifier`).
        personalization: a file from ``ferlite personalize`` for this model: a personal head, fitted on a few
            labelled faces of one person or camera, blended with the shipped one (:mod:`ferlite.runtime.personalize`).

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
        full_scan_every: int = FULL_SCAN_EVERY,
        personalization: str | Path | None = None,
        backend: str | None = None,
    ) -> None:
        self.classifier = EmotionClassifier(
            resolve_model_path(model_path),
            threads=threads or VIDEO_THREADS,
            tta=tta,
            providers=providers_for(device),
            backend=backend,
        )
        self.classifier.personalize(personalization)
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
        if full_scan_every < 1:
            raise ValueError(f"full_scan_every must be at least 1, got {full_scan_every}")
        self.full_scan_every = full_scan_every
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

        Accepts an image file's path, a BGR, BGRA or grayscale array, 8- or 16-bit, or a PIL image. Boxes and
        landmarks are in the upright image's own pixels, whatever its size.

        Example:
            >>> Recognizer().predict("tests/fixtures/astronaut_nasa_512.png").label  # doctest: +SKIP
            ['happy']
        """
        scale = 1.0
        if isinstance(image, (str, Path)):
            image, scale = read_image_scaled(image)
        bgr = to_bgr8(image)
        size = self.det_size or min(max(bgr.shape[:2]), PHOTO_DET_SIZE)
        faces = self.detector.detect(bgr, max_side=size)
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

    def face_crops(self, bgr: np.ndarray, faces: Faces) -> list[np.ndarray]:
        """The crops the classifier sees for given face boxes (and landmarks): margin added, eyes levelled."""
        spec = self.classifier.spec
        return align_crops(bgr, faces, spec.input_size, self.margin, self.align, color=spec.takes_colour)

    def classify(self, bgr: np.ndarray, faces: Faces) -> Faces:
        """Emotion probabilities for given face boxes (and landmarks) in a BGR frame."""
        return faces.with_(scores=self.classifier.predict(self.face_crops(bgr, faces)), labels=self.labels)

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
        yield from self._stream.run(frames)


ROI_SIDE = 128  # the detection size of a region around a tracked face (see FULL_SCAN_EVERY)
ROI_MARGIN = 1.0  # context around a tracked box on each side, as a fraction of its side: room to move
ROI_MIN_SIDE = 128  # the smallest region, in frame pixels
ROI_MAX_COST = 0.6  # regions are used only when they cost at most this share of a full-frame pass


def region_around(box: np.ndarray, w: int, h: int) -> tuple[int, int, int, int]:
    """The region searched for a face last seen at ``box`` in a ``w`` x ``h`` frame: a square of the box's longer
    side plus ``ROI_MARGIN`` on each side, at least ``ROI_MIN_SIDE``, clipped to the frame (x1, y1, x2, y2).

    Example:
        >>> region_around(np.array([100, 100, 140, 150]), 640, 480)
        (45, 50, 195, 200)
    """
    x1, y1, x2, y2 = (float(v) for v in box)
    # YuNet needs context around a face: a region of a few dozen pixels finds nothing reliably.
    side = max(max(x2 - x1, y2 - y1) * (1 + 2 * ROI_MARGIN), ROI_MIN_SIDE)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    return int(max(0, cx - side / 2)), int(max(0, cy - side / 2)), int(min(w, cx + side / 2)), int(min(h, cy + side / 2))


def detect_in_regions(detector: YuNetDetector, bgr: np.ndarray, boxes: np.ndarray) -> Faces | None:
    """Faces found in a region around each box (``ROI_MARGIN``, at least ``ROI_MIN_SIDE``), each region detected
    at ``ROI_SIDE`` px and the results merged (overlapping finds of one face kept once); None when the regions
    would cost more than ``ROI_MAX_COST`` of the detector's full-frame pass (many faces: scan the whole frame).

    Example:
        >>> faces = detect_in_regions(YuNetDetector(), frame, last_faces.xyxy)  # doctest: +SKIP
    """
    h, w = bgr.shape[:2]
    full = min(1.0, detector.max_side / max(h, w)) ** 2 * h * w
    regions = [r for r in (region_around(box, w, h) for box in boxes) if r[2] - r[0] >= 16 and r[3] - r[1] >= 16]
    cost = sum(min(1.0, ROI_SIDE / max(x2 - x1, y2 - y1)) ** 2 * (x2 - x1) * (y2 - y1) for x1, y1, x2, y2 in regions)
    if not regions or cost >= ROI_MAX_COST * full:
        return None
    found = []
    for rx1, ry1, rx2, ry2 in regions:
        f = detector.detect(bgr[ry1:ry2, rx1:rx2], max_side=ROI_SIDE, pad_to_grid=True)
        if len(f):
            offset = np.array([rx1, ry1], np.float32)
            lm = None if f.landmarks is None else f.landmarks + offset
            found.append(f.with_(xyxy=f.xyxy + np.tile(offset, 2), landmarks=lm))
    if not found:
        return Faces.empty()
    merged = (
        found[0]
        if len(found) == 1
        else Faces(
            np.concatenate([f.xyxy for f in found]),
            np.concatenate([f.confidence for f in found]),
            landmarks=np.concatenate([f.landmarks for f in found]) if all(f.landmarks is not None for f in found) else None,
        )
    )
    keep = cv2.dnn.NMSBoxes(
        [[float(x1), float(y1), float(x2 - x1), float(y2 - y1)] for x1, y1, x2, y2 in merged.xyxy],
        merged.confidence.tolist(),
        0.0,
        0.3,
    )
    return merged[np.sort(np.asarray(keep, np.int64).reshape(-1))]


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
        self._tracked, self._frames_since_detection, self._frames_since_full_scan = Faces.empty(), 0, 0
        self._roi_count = 0  # faces whose regions the last detection searched (0: it scanned the whole frame)
        # Faces the last whole-frame scan found below the tracker's threshold for new tracks: their regions are searched
        # too until the next scan, so that a face becoming confident is found at once, not at the next scan.
        self._candidates = np.zeros((0, 4), np.float32)

    def update(self, frame: np.ndarray) -> Faces:
        """Detect (or reuse the tracked boxes between detections), track, classify and smooth one frame."""
        bgr = to_bgr8(frame)
        return self.recognise(bgr, self.locate(bgr))

    def locate(self, bgr: np.ndarray) -> Faces:
        """The first stage of a frame: its faces' boxes and track IDs, without scores.

        It reads only this frame and the tracks the previous frame's ``locate`` left, never a score, so that
        :meth:`run` can locate the next frame while this one is classified."""
        rec = self.recognizer
        detected = self._frames_since_detection % rec.detect_every == 0 or len(self._tracked) == 0
        if detected:
            faces = self._detect(bgr)
            self._frames_since_detection = 0
        else:
            faces = self._tracked.with_(tracker_id=None)
        self._frames_since_detection += 1
        # Track first: the tracker drops the low-confidence detections that continue no track, so only the faces
        # it keeps are classified.
        tracked = self.tracker.update(faces)
        if detected and self._roi_count == 0:  # a whole-frame scan: remember the faces it did not keep
            untracked = (box_iou(faces.xyxy, tracked.xyxy).max(axis=1) < 0.5) if len(tracked) else np.ones(len(faces), bool)
            self._candidates = faces.xyxy[untracked]
        self._tracked = tracked
        return tracked

    def recognise(self, bgr: np.ndarray, tracked: Faces) -> Faces:
        """The second stage of a frame: emotion scores for the faces ``locate`` gave, smoothed along each track."""
        return self.smoother.update(self.recognizer.classify(bgr, tracked))

    def run(self, frames: Iterable[tuple[int, np.ndarray]]) -> Generator[tuple[int, np.ndarray, Faces], None, None]:
        """``(index, frame, faces)`` for each of ``frames``, the same as :meth:`update` gives, with the two stages
        overlapped: a worker thread reads and locates frame t+1 while the caller's thread classifies frame t.

        A frame's detection and its classification each leave a core idle while the other runs (ONNX Runtime and
        OpenCV release the GIL); overlapped, the one-face clip ran at 1.18x and the hikers clip at 1.30x the frame rate
        of ``update`` on the 2-core VM, and 1.45x and 1.93x with YuNet on ONNX Runtime too (benchmarks/pipeline.py,
        docs/BENCHMARKS.md). A frame's faces come one frame later than from ``update``, which
        suits files; a camera or a live stream (a :class:`FrameSource` that is not a file) is run frame by frame,
        since running ahead would hold each frame's faces until the next frame arrives.

        Example:
            >>> for index, frame, faces in rec.new_stream().run(FrameSource("clip.mp4")):  # doctest: +SKIP
            ...     print(index, faces.label)
        """
        if isinstance(frames, FrameSource):
            if not frames.is_file:
                for index, frame in frames:
                    yield index, frame, self.update(frame)
                return
            # Decoded by the worker, not by a read-ahead thread: a third thread only competes for the two cores.
            frames = frames.in_step()
        source = iter(frames)

        def read_and_locate() -> tuple[int, np.ndarray, np.ndarray, Faces] | None:
            # The worker decodes too: locating is the lighter stage once YuNet runs on ONNX Runtime.
            item = next(source, None)
            if item is None:
                return None
            bgr = to_bgr8(item[1])
            return item[0], item[1], bgr, self.locate(bgr)

        try:
            with ThreadPoolExecutor(1, thread_name_prefix="ferlite-locate") as pool:
                ahead = pool.submit(read_and_locate)
                while (located := ahead.result()) is not None:
                    ahead = pool.submit(read_and_locate)
                    index, frame, bgr, tracked = located
                    yield index, frame, self.recognise(bgr, tracked)
        finally:
            close = getattr(source, "close", None)
            if close is not None:  # a generator over a capture releases it now, not when it is collected
                close()

    def _detect(self, bgr: np.ndarray) -> Faces:
        """The whole frame every ``full_scan_every`` frames, when nothing is tracked or when a face was lost;
        between those, only a region around each tracked face and each face the last scan found below the
        confidence for a new track, at a small detection size: most of a frame's detection cost, saved without
        losing the faces being followed. Other new faces wait for the next full scan."""
        rec = self.recognizer
        n = rec.full_scan_every
        lost = len(self._tracked) > 0 and self._roi_count > len(self._tracked)
        if (
            n <= 1
            or len(self._tracked) == 0
            or lost
            or self._frames_since_full_scan % n == 0
            or not isinstance(rec.detector, YuNetDetector)
        ):
            self._frames_since_full_scan = 1
            self._roi_count = 0
            return rec.detector.detect(bgr)
        self._frames_since_full_scan += 1
        known = np.concatenate([self._tracked.xyxy, self._candidates])
        faces = detect_in_regions(rec.detector, bgr, known)
        if faces is None:  # the regions would cost more than the whole frame
            self._frames_since_full_scan = 1
            self._roi_count = 0
            return rec.detector.detect(bgr)
        self._roi_count = len(self._tracked)
        return faces[self._followed(faces, bgr.shape[1], bgr.shape[0])] if len(faces) else faces

    def _followed(self, faces: Faces, w: int, h: int) -> np.ndarray:
        """Which of the faces found in the regions continue what is followed: for each tracked face the nearest face
        in its region, and the faces overlapping a candidate. A region's context, searched at a finer scale than the
        whole frame, also yields neighbours the whole frame finds less sure of; as tracks they flickered (short
        spurious tracks on the hikers clip), so they wait for the next whole-frame scan."""
        centres = (faces.xyxy[:, :2] + faces.xyxy[:, 2:]) / 2
        keep = np.zeros(len(faces), bool)
        for box in self._tracked.xyxy:
            x1, y1, x2, y2 = region_around(box, w, h)
            inside = (centres[:, 0] >= x1) & (centres[:, 0] < x2) & (centres[:, 1] >= y1) & (centres[:, 1] < y2)
            if inside.any():
                distance = np.hypot(*(centres - (box[:2] + box[2:]) / 2).T)
                keep[int(np.argmin(np.where(inside, distance, np.inf)))] = True
        if len(self._candidates):
            keep |= box_iou(faces.xyxy, self._candidates).max(axis=1) >= 0.3
        return keep
