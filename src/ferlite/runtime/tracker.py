"""Multi-face tracking with stable IDs, and smoothing of each track's emotion probabilities.

Faces are matched to tracks greedily by box overlap (IoU), best pairs first. That is
enough for the few, slowly moving faces of FER video and needs no extra dependency. A
track that goes unmatched survives ``lost_track_buffer`` frames, so a missed detection
or a brief occlusion does not change a person's ID. :class:`ScoreSmoother`, keyed by those
IDs, keeps an exponential moving average of each track's probabilities, so labels do not
flicker from frame to frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .faces import Faces


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix (len(a), len(b)) of xyxy boxes."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)), np.float32)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


@dataclass
class _Track:
    track_id: int
    xyxy: np.ndarray
    lost: int = 0
    hits: int = 1


class FaceTracker:
    """IoU tracker: ``update(faces) -> faces`` with ``tracker_id`` set (scores are left as they are).

    Args:
        iou_threshold: minimum overlap for a face to continue a track.
        lost_track_buffer: frames a track survives without a matching face.

    Example:
        >>> tracker = FaceTracker()
        >>> for frame in frames:  # doctest: +SKIP
        ...     faces = tracker.update(classify(detect(frame)))
    """

    def __init__(self, iou_threshold: float = 0.3, lost_track_buffer: int = 15) -> None:
        self.iou_threshold, self.lost_track_buffer = iou_threshold, lost_track_buffer
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (between videos)."""
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, faces: Faces) -> Faces:
        tracks = self._tracks
        iou = box_iou(np.array([t.xyxy for t in tracks]).reshape(-1, 4), faces.xyxy)
        face_track = np.full(len(faces), -1, np.int64)
        matched_tracks: set[int] = set()
        for flat in np.argsort(-iou, axis=None):
            ti, fi = divmod(int(flat), len(faces))
            if iou[ti, fi] < self.iou_threshold:
                break
            if ti in matched_tracks or face_track[fi] >= 0:
                continue
            matched_tracks.add(ti)
            face_track[fi] = ti
        ids = np.empty(len(faces), np.int64)
        for fi in range(len(faces)):
            if face_track[fi] >= 0:
                t = tracks[face_track[fi]]
                t.xyxy, t.lost, t.hits = faces.xyxy[fi], 0, t.hits + 1
            else:
                t = _Track(self._next_id, faces.xyxy[fi])
                self._next_id += 1
                tracks.append(t)
                matched_tracks.add(len(tracks) - 1)
            ids[fi] = t.track_id
        for ti, t in enumerate(tracks):
            if ti not in matched_tracks:
                t.lost += 1
        self._tracks = [t for t in tracks if t.lost <= self.lost_track_buffer]
        return faces.with_(tracker_id=ids)


class ScoreSmoother:
    """Exponential moving average of each track's probabilities, keyed by ``tracker_id``.

    Args:
        smoothing: weight of the newest probabilities (1 = none). At 30 FPS, 0.3 settles within about 10
            frames (a third of a second).
        forget_after: updates after which an absent track's average is dropped (a track the tracker lost for
            good never comes back under its ID).

    Example:
        >>> smoother = ScoreSmoother(0.5)
        >>> box = np.zeros((1, 4))
        >>> _ = smoother.update(Faces(box, [1.0], scores=[[1.0, 0.0]], tracker_id=[7], labels=("a", "b")))
        >>> smoother.update(Faces(box, [1.0], scores=[[0.0, 1.0]], tracker_id=[7], labels=("a", "b"))).scores.tolist()
        [[0.5, 0.5]]
    """

    def __init__(self, smoothing: float = 0.3, forget_after: int = 60) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.smoothing, self.forget_after = smoothing, forget_after
        self.reset()

    def reset(self) -> None:
        """Forget every track's average (between videos)."""
        self._average: dict[int, np.ndarray] = {}
        self._seen: dict[int, int] = {}
        self._step = 0

    def update(self, faces: Faces) -> Faces:
        """``faces`` with each tracked face's scores replaced by its track's running average."""
        self._step += 1
        for track in [t for t, step in self._seen.items() if self._step - step > self.forget_after]:
            del self._average[track], self._seen[track]
        if faces.scores is None or faces.tracker_id is None:
            return faces
        smoothed = faces.scores.copy()
        for i, track in enumerate(faces.tracker_id.tolist()):
            previous = self._average.get(track)
            if previous is not None and len(previous) == smoothed.shape[1]:
                smoothed[i] = self.smoothing * smoothed[i] + (1 - self.smoothing) * previous
            self._average[track], self._seen[track] = smoothed[i], self._step
        return faces.with_(scores=smoothed)
