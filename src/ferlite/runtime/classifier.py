"""Emotion classifier on ONNX Runtime: one session, batched over all faces of a frame.

The model file describes itself: classes, input size, mean/std and colour mode are read
from its ONNX metadata (written by ``ferlite export``), never guessed from its name.
No torch is imported here.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..core.errors import CheckpointError
from ..core.spec import EMBEDDING_OUTPUT, ModelSpec
from .engines import chosen_backend, onnxruntime_options
from .model_io import LogitCalibration, check_tta, preprocess_faces, softmax, tta_views
from .opencv_backend import OpenCVSession
from .personalize import Personalization, file_sha256


class EmotionClassifier:
    """An ONNX emotion model: ``predict(crops) -> probabilities (N, classes)``.

    Args:
        model_path: an ONNX file written by ``ferlite export`` (fp32 or int8).
        threads: intra-op threads for ONNX Runtime (default: ONNX Runtime's choice).
        providers: ONNX Runtime execution providers, in order of preference (default: the CPU's); e.g.
            ``["CUDAExecutionProvider", "CPUExecutionProvider"]`` with onnxruntime-gpu installed.
        backend: ``"onnxruntime"`` or ``"opencv"`` (OpenCV's DNN module, for platforms where onnxruntime has no
            wheel; slower); default: onnxruntime when it can be imported, else OpenCV.
        tta: test-time augmentation, averaging the logits of several views of each face (default: the one the
            model file declares, with which its published number was measured; ``"none"`` for most): ``"none"``,
            ``"flip"`` (the mirror image too: twice the classifier cost) or ``"shift-flip"`` (ten views: ten
            times the cost); see :func:`tta_views`.

    Example:
        >>> clf = EmotionClassifier("model.int8.onnx", threads=1)  # doctest: +SKIP
        >>> clf.predict([face_bgr]).shape  # doctest: +SKIP
        (1, 7)
    """

    def __init__(
        self,
        model_path: str | Path,
        threads: int | None = None,
        tta: str | None = None,
        providers: Sequence[str] | None = None,
        backend: str | None = None,
    ) -> None:
        if tta is not None:
            check_tta(tta)
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise CheckpointError(f"{self.model_path}: model file not found")
        self.backend = chosen_backend(backend)
        if self.backend == "opencv":
            if providers and any(p != "CPUExecutionProvider" for p in providers):
                raise CheckpointError("the opencv backend runs on the CPU only; --device cuda needs onnxruntime-gpu")
            self.providers = ["OpenCV DNN"]
            try:
                self.session = OpenCVSession(self.model_path, threads)
            except (cv2.error, ValueError, IndexError) as e:
                raise CheckpointError(f"{self.model_path}: OpenCV's DNN module cannot run it ({str(e)[:200]})") from None
        else:
            self._start_onnxruntime(threads, providers)
        self._read_spec(tta)
        self.personalization: Personalization | None = None

    def _start_onnxruntime(self, threads: int | None, providers: Sequence[str] | None) -> None:
        import onnxruntime as ort

        opts = onnxruntime_options(threads)
        providers = list(providers or ["CPUExecutionProvider"])
        available = ort.get_available_providers()
        missing = [p for p in providers if p not in available]
        if missing:
            raise CheckpointError(
                f"ONNX Runtime execution provider {', '.join(missing)} is not available here (available: "
                f"{', '.join(available)}); for CUDA install onnxruntime-gpu in place of onnxruntime"
            )
        self.providers = providers
        try:
            self.session = ort.InferenceSession(str(self.model_path), opts, providers=providers)
        except Exception as e:
            raise CheckpointError(f"{self.model_path}: not a loadable ONNX model ({str(e)[:200]})") from None

    def _read_spec(self, tta: str | None) -> None:
        meta = self.session.get_modelmeta().custom_metadata_map
        self.spec = ModelSpec.from_metadata(meta, str(self.model_path))
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        if inp.shape[-1] not in (self.spec.input_size, None) and not isinstance(inp.shape[-1], str):
            raise CheckpointError(f"{self.model_path}: input is {inp.shape[-1]}px but its metadata says {self.spec.input_size}")
        self.tta = self.spec.tta if tta is None else tta
        width = self.session.get_outputs()[0].shape[-1]
        if isinstance(width, int):
            self.spec.check_outputs(width, str(self.model_path))
        self.labels = self.spec.labels
        self.calibration = LogitCalibration.from_metadata(meta, len(self.labels), str(self.model_path))
        outputs = [o.name for o in self.session.get_outputs()]
        self.embedding_width = self.session.get_outputs()[1].shape[-1] if outputs[1:2] == [EMBEDDING_OUTPUT] else None

    def personalize(self, personalization: Personalization | str | Path | None) -> None:
        """Blend every prediction with a personal head (:mod:`ferlite.runtime.personalize`), or stop (None).

        The file must have been fitted for this very model file (its SHA-256), with its classes.
        """
        if personalization is None:
            self.personalization = None
            return
        self.check_embedding()
        p = personalization if isinstance(personalization, Personalization) else Personalization.load(personalization)
        p.check_model(self.labels, self.sha256(), int(self.embedding_width or 0), str(self.model_path))
        self.personalization = p

    def check_embedding(self) -> None:
        """A CheckpointError unless the model has the embedding output that personalization needs."""
        if self.embedding_width is None:
            raise CheckpointError(
                f"{self.model_path}: has no embedding output, so it cannot be personalized; re-export it with 'ferlite export'"
            )

    def sha256(self) -> str:
        """The model file's SHA-256 (what a personalization is tied to)."""
        if not hasattr(self, "_sha256"):
            self._sha256 = file_sha256(self.model_path)
        return self._sha256

    def logits_and_embeddings(self, batch: np.ndarray, calibrated: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
        """Logits and embeddings (None for a model without that output) of a preprocessed batch (N, 3, S, S), each
        averaged over the test-time views. The logits are the network's raw output, or with ``calibrated`` the
        file's logit calibration and the personalization (if any) applied."""
        if len(batch) == 0:
            width = self.embedding_width or 0
            return np.zeros((0, len(self.labels)), np.float32), (np.zeros((0, width), np.float32) if width else None)
        views = tta_views(batch, self.tta)
        # One call per view: a batch of all views at once would multiply the activation memory by up to ten.
        runs = [self.session.run(None, {self.input_name: v}) for v in views]
        logits = np.asarray(sum(r[0] for r in runs)) / len(views)
        emb = np.asarray(sum(r[1] for r in runs)) / len(views) if self.embedding_width else None
        if calibrated:
            logits = self.calibration.apply(logits)
            if self.personalization is not None and emb is not None:
                logits = self.personalization.apply(logits, emb)
        return logits, emb

    def predict_logits(self, batch: np.ndarray, calibrated: bool = True) -> np.ndarray:
        """Logits for an already preprocessed batch (N, 3, S, S), with the file's logit calibration and the
        personalization (if any) applied (``calibrated=False``: the network's raw output, as calibration fits it)."""
        return self.logits_and_embeddings(batch, calibrated)[0]

    def embed(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Face embeddings (N, D) of face crops, the classifier's input (models exported with that output)."""
        self.check_embedding()
        emb = self.logits_and_embeddings(preprocess_faces(crops, self.spec))[1]
        assert emb is not None  # check_embedding said the model has it
        return emb

    def predict(self, crops: Sequence[np.ndarray]) -> np.ndarray:
        """Class probabilities for face crops: one batched ONNX Runtime call per test-time view (one without TTA)."""
        return softmax(self.predict_logits(preprocess_faces(crops, self.spec)))


def time_inference(clf: EmotionClassifier, batch: int, runs: int, warmup: int = 5) -> np.ndarray:
    """Seconds taken by each of ``runs`` classifier calls on a random batch (after ``warmup`` calls).

    Example:
        >>> 1000 * np.median(time_inference(clf, batch=1, runs=100))  # ms per face  # doctest: +SKIP
    """
    s = clf.spec.input_size
    x = np.random.default_rng(0).standard_normal((batch, 3, s, s)).astype(np.float32)
    for _ in range(warmup):
        clf.predict_logits(x)
    times = np.empty(runs)
    for i in range(runs):
        t = time.perf_counter()
        clf.predict_logits(x)
        times[i] = time.perf_counter() - t
    return times
