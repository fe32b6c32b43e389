"""``Faces``: one value object for the faces of a frame (in the style of supervision's Detections).

Parallel numpy arrays, one row per face. The detector fills boxes, landmarks and
confidence; the classifier fills ``scores``; the tracker fills ``tracker_id``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ..core.vocabulary import BOX_FIELDS


@dataclass
class Faces:
    """Faces in one frame.

    Attributes:
        xyxy: float32 (N, 4) boxes in pixels, (x1, y1, x2, y2).
        confidence: float32 (N,) detector scores.
        landmarks: float32 (N, 5, 2) or None: right eye, left eye, nose tip, right and
            left mouth corner (YuNet's order, as seen in the image).
        scores: float32 (N, C) or None: emotion probabilities, in ``labels`` order.
        tracker_id: int64 (N,) or None; -1 for faces not (yet) tracked.
        labels: class names of ``scores``' columns.

    Example:
        >>> f = Faces(np.array([[0, 0, 10, 10], [5, 5, 50, 50]], np.float32), np.array([0.9, 0.4], np.float32))
        >>> len(f[f.confidence > 0.5])
        1
    """

    xyxy: np.ndarray
    confidence: np.ndarray
    landmarks: np.ndarray | None = None
    scores: np.ndarray | None = None
    tracker_id: np.ndarray | None = None
    labels: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self.xyxy = np.asarray(self.xyxy, np.float32).reshape(-1, 4)
        n = len(self.xyxy)
        self.confidence = np.asarray(self.confidence, np.float32).reshape(-1)
        if len(self.confidence) != n:
            raise ValueError(f"confidence must have shape ({n},), got {self.confidence.shape}")
        if self.landmarks is not None:
            self.landmarks = np.asarray(self.landmarks, np.float32)
            if self.landmarks.shape != (n, 5, 2):
                raise ValueError(f"landmarks must have shape ({n}, 5, 2), got {self.landmarks.shape}")
        if self.scores is not None:
            self.scores = np.asarray(self.scores, np.float32)
            if self.scores.ndim != 2 or len(self.scores) != n:
                raise ValueError(f"scores must have shape ({n}, C), got {self.scores.shape}")
            if self.labels and len(self.labels) != self.scores.shape[1]:
                raise ValueError(
                    f"{len(self.labels)} labels for {self.scores.shape[1]} score columns: each column needs its label"
                )
        if self.tracker_id is not None:
            self.tracker_id = np.asarray(self.tracker_id, np.int64).reshape(-1)
            if len(self.tracker_id) != n:
                raise ValueError(f"tracker_id must have shape ({n},), got {self.tracker_id.shape}")

    @classmethod
    def empty(cls) -> Faces:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32))

    def __len__(self) -> int:
        return len(self.xyxy)

    def __iter__(self) -> Iterator[Faces]:
        for i in range(len(self)):
            yield self[i]

    def __getitem__(self, index: Any) -> Faces:
        if isinstance(index, (int, np.integer)):
            index = [int(index)]
        pick = lambda a: None if a is None else a[index]  # noqa: E731
        return Faces(
            self.xyxy[index], self.confidence[index], pick(self.landmarks), pick(self.scores), pick(self.tracker_id), self.labels
        )

    def scaled(self, factor: float) -> Faces:
        """Boxes and landmarks multiplied by ``factor`` (back to an image's own pixels after a resize).

        Example:
            >>> Faces(np.array([[10, 20, 30, 40]]), np.ones(1)).scaled(2.0).xyxy.tolist()
            [[20.0, 40.0, 60.0, 80.0]]
        """
        if factor == 1.0:
            return self
        lm = None if self.landmarks is None else self.landmarks * factor
        return self.with_(xyxy=self.xyxy * factor, landmarks=lm)

    def with_(self, **changes: Any) -> Faces:
        """A copy with some fields replaced (``faces.with_(scores=p, labels=names)``)."""
        return replace(self, **changes)

    @property
    def label(self) -> list[str]:
        """The most probable emotion of each face (empty strings before classification)."""
        if self.scores is None or not self.labels:
            return [""] * len(self)
        return [self.labels[i] for i in self.scores.argmax(1)]

    def to_json(self) -> str:
        """The faces as a JSON array (see :meth:`to_dicts`).

        Example:
            >>> Faces(np.array([[1, 2, 3, 4]]), np.ones(1)).to_json()
            '[{"face": 0, "x1": 1.0, "y1": 2.0, "x2": 3.0, "y2": 4.0, "confidence": 1.0}]'
        """
        import json

        return json.dumps(self.to_dicts())

    def to_pandas(self) -> Any:
        """A pandas DataFrame, one row per face: face, x1, y1, x2, y2, confidence, tracker_id, label and a column per
        class score (pandas is an optional extra: ``pip install "ferlite[apps]"``).

        Example:
            >>> Recognizer().predict("photo.jpg").to_pandas()[["label", "happy"]]  # doctest: +SKIP
        """
        try:
            import pandas as pd
        except ImportError:
            raise ImportError('Faces.to_pandas needs pandas: pip install "ferlite[apps]"') from None
        data: dict[str, Any] = {"face": np.arange(len(self))}
        data.update({k: self.xyxy[:, i] for i, k in enumerate(BOX_FIELDS)})
        data["confidence"] = self.confidence
        data["tracker_id"] = self.tracker_id if self.tracker_id is not None else [None] * len(self)
        data["label"] = self.label
        if self.scores is not None:
            data.update({c: self.scores[:, i] for i, c in enumerate(self.labels)})
        return pd.DataFrame(data)

    @classmethod
    def from_detections(cls, detections: Any, labels: Sequence[str] = ()) -> Faces:
        """Faces from a ``supervision.Detections`` (its ``xyxy``, ``confidence``, ``tracker_id``, and scores kept in
        ``data["scores"]`` by :meth:`to_detections`). supervision itself is not needed to call this.
        """
        n = len(detections.xyxy)
        confidence = detections.confidence if detections.confidence is not None else np.ones(n, np.float32)
        scores = getattr(detections, "data", {}).get("scores") if hasattr(detections, "data") else None
        return cls(
            detections.xyxy,
            confidence,
            scores=scores,
            tracker_id=detections.tracker_id,
            labels=tuple(labels) if scores is not None else (),
        )

    def to_detections(self) -> Any:
        """A ``supervision.Detections`` (imported lazily: ``pip install supervision``), scores in ``data["scores"]``
        and labels in ``data["class_name"]``, for supervision's annotators and trackers.

        supervision declares the GUI build ``opencv-python``; beside ferlite's ``opencv-python-headless`` install it
        with ``pip install --no-deps supervision==0.27.0 defusedxml`` so that only one ``cv2`` is installed.
        """
        try:
            import supervision as sv
        except ImportError:
            raise ImportError("Faces.to_detections needs supervision: pip install supervision") from None
        data: dict[str, Any] = {} if self.scores is None else {"scores": self.scores, "class_name": np.array(self.label)}
        class_id = None if self.scores is None else self.scores.argmax(1)
        return sv.Detections(xyxy=self.xyxy, confidence=self.confidence, class_id=class_id, tracker_id=self.tracker_id, data=data)

    def to_dicts(self) -> list[dict[str, Any]]:
        """JSON-ready records, one per face, in ferlite's output vocabulary (:mod:`ferlite.core.vocabulary`): ``face``
        (its index), ``x1``, ``y1``, ``x2``, ``y2``, ``confidence``, ``tracker_id`` when tracked, ``label`` and
        ``scores`` when classified, ``landmarks`` when detected."""
        out = []
        for i in range(len(self)):
            d: dict[str, Any] = {"face": i}
            d.update({k: round(float(v), 1) for k, v in zip(BOX_FIELDS, self.xyxy[i])})
            d["confidence"] = round(float(self.confidence[i]), 4)
            if self.tracker_id is not None:
                d["tracker_id"] = int(self.tracker_id[i])
            if self.scores is not None:
                d["label"] = self.label[i]
                d["scores"] = {c: round(float(s), 4) for c, s in zip(self.labels, self.scores[i])}
            if self.landmarks is not None:
                d["landmarks"] = [[round(float(x), 1), round(float(y), 1)] for x, y in self.landmarks[i]]
            out.append(d)
        return out
