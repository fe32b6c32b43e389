"""Multi-face tracking with stable IDs, and smoothing of each track's emotion probabilities.

Faces are matched to tracks in two stages, ByteTrack's way: confident detections first, then the
low-confidence ones for the tracks left over, each by the overlap (IoU) of a track's predicted box, best
pairs first. It needs no extra dependency (supervision's ByteTrack would pull OpenCV 5 and about
300 MB). A track that goes unmatched survives ``lost_track_buffer`` frames, so a missed detection or a
brief occlusion does not change a person's ID. :class:`ScoreSmoother`, keyed by those
IDs, keeps an exponential moving average of each track's probabilities, so labels do not
flicker from frame to frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    lost: int = 0
    hits: int = 1

    def predicted(self) -> np.ndarray:
        """Where the box should be now: constant velocity over the frames since it was last seen."""
        return self.xyxy + self.velocity * (self.lost + 1)


def _greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs, best overlaps first, each row and column used once, overlap at least ``threshold``."""
    pairs: list[tuple[int, int]] = []
    rows, cols = set(), set()
    if iou.size == 0:
        return pairs
    for flat in np.argsort(-iou, axis=None):
        r, c = divmod(int(flat), iou.shape[1])
        if iou[r, c] < threshold:
            break
        if r in rows or c in cols:
            continue
        rows.add(r)
        cols.add(c)
        pairs.append((r, c))
    return pairs


class FaceTracker:
    """A ByteTrack-style tracker (Zhang et al., ECCV 2022): ``update(faces) -> faces`` kept and given ``tracker_id``.

    Each frame, tracks are first matched to the confident detections (``confidence >= high_threshold``) by the
    overlap of their predicted box (constant velocity) with the detection; the tracks left over then get a second
    chance with the low-confidence detections (``low_threshold`` up to ``high_threshold``), which is what keeps a
    turned, blurred or half-hidden face on its track instead of splitting the person into new IDs. Confident
    detections left unmatched start tracks; low-confidence ones left unmatched are dropped. A track that goes
    unmatched survives ``lost_track_buffer`` frames. With ``low_threshold == high_threshold`` and no motion model it
    is the plain greedy IoU tracker ferlite used before.

    The detector must report the low-confidence faces too (the :class:`Recognizer` runs YuNet at
    ``low_threshold``); scores are left as they are (see :class:`ScoreSmoother`).

    Args:
        iou_threshold: minimum overlap for a confident detection to continue a track.
        lost_track_buffer: frames a track survives without a matching face.
        high_threshold: detections at least this confident are matched first and may start tracks.
        low_threshold: detections below this are ignored.
        low_iou_threshold: minimum overlap in the second, low-confidence stage (stricter: such boxes are noisier).
        motion: predict each track's box with its recent velocity.

    Example:
        >>> tracker = FaceTracker()
        >>> for frame in frames:  # doctest: +SKIP
        ...     faces = tracker.update(detect(frame))
    """

    def __init__(
        self,
        iou_threshold: float = 0.3,
        lost_track_buffer: int = 30,
        high_threshold: float = 0.7,
        low_threshold: float = 0.4,
        low_iou_threshold: float = 0.5,
        motion: bool = True,
    ) -> None:
        if not 0 <= low_threshold <= high_threshold <= 1:
            raise ValueError(f"need 0 <= low_threshold <= high_threshold <= 1, got {low_threshold}, {high_threshold}")
        self.iou_threshold, self.lost_track_buffer = iou_threshold, lost_track_buffer
        self.high_threshold, self.low_threshold, self.low_iou_threshold = high_threshold, low_threshold, low_iou_threshold
        self.motion = motion
        self.reset()

    def reset(self) -> None:
        """Forget all tracks (between videos)."""
        self._tracks: list[_Track] = []
        self._next_id = 1

    def update(self, faces: Faces) -> Faces:
        tracks = self._tracks
        boxes = np.array([t.predicted() if self.motion else t.xyxy for t in tracks], np.float32).reshape(-1, 4)
        high = np.flatnonzero(faces.confidence >= self.high_threshold)
        low = np.flatnonzero((faces.confidence >= self.low_threshold) & (faces.confidence < self.high_threshold))
        face_track: dict[int, int] = {}
        for r, c in _greedy_match(box_iou(boxes, faces.xyxy[high]), self.iou_threshold):
            face_track[int(high[c])] = r
        left = [ti for ti in range(len(tracks)) if ti not in face_track.values()]
        for r, c in _greedy_match(box_iou(boxes[left], faces.xyxy[low]), self.low_iou_threshold):
            face_track[int(low[c])] = left[r]
        keep = sorted(set(face_track) | set(int(i) for i in high))
        ids = np.empty(len(keep), np.int64)
        seen: set[int] = set()
        for k, fi in enumerate(keep):
            box = faces.xyxy[fi]
            if fi in face_track:
                t = tracks[face_track[fi]]
                step = (box - t.xyxy) / (t.lost + 1)
                t.velocity = 0.5 * step + 0.5 * t.velocity if t.hits > 1 else step
                t.xyxy, t.lost, t.hits = box, 0, t.hits + 1
                seen.add(face_track[fi])
            else:
                t = _Track(self._next_id, box)
                self._next_id += 1
                tracks.append(t)
                seen.add(len(tracks) - 1)
            ids[k] = t.track_id
        for ti, t in enumerate(tracks):
            if ti not in seen:
                t.lost += 1
        self._tracks = [t for t in tracks if t.lost <= self.lost_track_buffer]
        return faces[np.array(keep, np.int64)].with_(tracker_id=ids)


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
