"""Multi-face tracking with stable IDs and per-track smoothing of emotion probabilities.

Faces are matched to tracks greedily by box overlap (IoU), best pairs first. That is
enough for the few, slowly moving faces of FER video and needs no extra dependency. A
track that goes unmatched survives ``lost_track_buffer`` frames, so a missed detection
or a brief occlusion does not change a person's ID. Each track keeps an exponential
moving average of its probabilities, so labels do not flicker from frame to frame.
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
    scores: np.ndarray | None
    lost: int = 0
    hits: int = 1


class FaceTracker:
    """IoU tracker: ``update(faces) -> faces`` with ``tracker_id`` set and scores smoothed.

    Args:
        iou_threshold: minimum overlap for a face to continue a track.
        lost_track_buffer: frames a track survives without a matching face.
        smoothing: weight of the newest probabilities in the moving average (1 = none).
            At 30 FPS, 0.3 settles within about 10 frames (a third of a second).

    Example:
        >>> tracker = FaceTracker()
        >>> for frame in frames:  # doctest: +SKIP
        ...     faces = tracker.update(classify(detect(frame)))
    """

    def __init__(self, iou_threshold: float = 0.3, lost_track_buffer: int = 15, smoothing: float = 0.3) -> None:
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing}")
        self.iou_threshold, self.lost_track_buffer, self.smoothing = iou_threshold, lost_track_buffer, smoothing
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
        smoothed = None if faces.scores is None else faces.scores.copy()
        ids = np.empty(len(faces), np.int64)
        for fi in range(len(faces)):
            if face_track[fi] >= 0:
                t = tracks[face_track[fi]]
                t.xyxy, t.lost, t.hits = faces.xyxy[fi], 0, t.hits + 1
            else:
                t = _Track(self._next_id, faces.xyxy[fi], None)
                self._next_id += 1
                tracks.append(t)
                matched_tracks.add(len(tracks) - 1)
            if smoothed is not None and faces.scores is not None:
                new = faces.scores[fi]
                t.scores = (
                    new
                    if t.scores is None or len(t.scores) != len(new)
                    else self.smoothing * new + (1 - self.smoothing) * t.scores
                )
                smoothed[fi] = t.scores
            ids[fi] = t.track_id
        for ti, t in enumerate(tracks):
            if ti not in matched_tracks:
                t.lost += 1
        self._tracks = [t for t in tracks if t.lost <= self.lost_track_buffer]
        return faces.with_(tracker_id=ids, scores=smoothed)
