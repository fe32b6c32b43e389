"""Driver monitoring: eye closure, PERCLOS, microsleeps and head-pose distraction, with alarms.

This is a heuristic aid built from ferlite's runtime parts, **not a certified safety system**.

Per frame, the driver is the largest face found by YuNet. Its two eye patches (cut with
YuNet's eye landmarks, see :func:`ferlite.runtime.align.eye_crops`) go through a small
eye-state CNN trained with ``ferlite train`` on CEW (split by face), and its five
landmarks give a coarse head pose (``cv2.solvePnP``). From those:

- ``eyes_closed``: the mean closed-probability of both eyes is above ``closed_threshold``;
- PERCLOS: the fraction of frames with closed eyes over the last ``perclos_window`` seconds;
- a microsleep: the eyes stay closed for ``microsleep_s`` seconds or more;
- distraction: |yaw| above ``yaw_limit`` or |pitch| above ``pitch_limit`` (or no face at
  least ``min_face`` pixels wide) for ``distraction_s`` seconds.

Drowsiness and distraction are :class:`~ferlite.apps.alarm.Hysteresis` alarms, so they do
not flap. Every change is an event (a dict, written as JSON lines by ``ferlite drive``).

Example:
    >>> monitor = DriverMonitor()  # doctest: +SKIP
    >>> for index, frame in FrameSource("cabin.mp4"):  # doctest: +SKIP
    ...     state = monitor.update(frame, t=index / 30)
    ...     for event in state.events:
    ...         print(event)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..core.errors import CheckpointError
from ..core.paths import asset_path
from ..runtime.align import eye_crops
from ..runtime.classifier import EmotionClassifier
from ..runtime.detector import Detector, YuNetDetector
from ..runtime.headpose import HeadPose, head_pose
from ..runtime.image import to_bgr8
from .alarm import Hysteresis

EYE_MODEL = "eye_state.int8.onnx"


def bundled_eye_model_path() -> Path:
    """The int8 eye-state model (closed/open, 24x24) shipped inside the package."""
    return asset_path(EYE_MODEL)


@dataclass
class DriveConfig:
    """Thresholds of the driver monitor (seconds and degrees)."""

    closed_threshold: float = 0.5
    # The driver is the largest face, and only a face this wide (pixels) counts: a cabin camera sees
    # the driver large, and the eye patches of smaller faces are too coarse to read.
    min_face: float = 80.0
    perclos_window: float = 30.0
    perclos_on: float = 0.25  # drowsy alarm at or above this PERCLOS ...
    perclos_off: float = 0.15  # ... cleared below this one
    drowsy_hold_s: float = 1.0
    microsleep_s: float = 1.0
    yaw_limit: float = 30.0
    pitch_limit: float = 25.0
    distraction_s: float = 2.0
    clear_s: float = 1.0


@dataclass
class DriverState:
    """What the monitor concluded at one frame."""

    t: float
    box: np.ndarray | None = None  # (4,) xyxy of the driver's face, None when no face
    landmarks: np.ndarray | None = None
    p_closed: float | None = None
    eyes_closed: bool = False
    closed_for: float = 0.0  # seconds the eyes have been closed so far
    perclos: float = 0.0
    pose: HeadPose | None = None
    looking_away: bool = False
    microsleep: bool = False  # the eyes have now been closed for microsleep_s or more
    drowsy: bool = False
    distracted: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "t": round(self.t, 3),
            "face": self.box is not None,
            "p_closed": None if self.p_closed is None else round(self.p_closed, 4),
            "eyes_closed": self.eyes_closed,
            "closed_for": round(self.closed_for, 3),
            "perclos": round(self.perclos, 4),
            "yaw": None if self.pose is None else round(self.pose.yaw, 1),
            "pitch": None if self.pose is None else round(self.pose.pitch, 1),
            "microsleep": self.microsleep,
            "drowsy": self.drowsy,
            "distracted": self.distracted,
        }


class DriverMonitor:
    """Eye closure, PERCLOS, microsleeps and distraction for the largest face of each frame.

    Args:
        detector: a :class:`~ferlite.runtime.detector.Detector` with landmarks (default: bundled YuNet).
        eye_model: eye-state ONNX model (default: the bundled one).
        config: thresholds.
        threads: ONNX Runtime threads for the eye model.

    Example:
        >>> state = DriverMonitor().update(frame, t=0.0)  # doctest: +SKIP
        >>> state.eyes_closed, state.perclos, state.pose  # doctest: +SKIP
    """

    def __init__(
        self,
        detector: Detector | None = None,
        eye_model: str | Path | None = None,
        config: DriveConfig | None = None,
        threads: int | None = 1,
    ) -> None:
        self.detector = detector or YuNetDetector()
        self.eyes = EmotionClassifier(eye_model or bundled_eye_model_path(), threads=threads)
        if "closed" not in self.eyes.labels:
            raise CheckpointError(f"{self.eyes.model_path}: not an eye-state model (classes {', '.join(self.eyes.labels)})")
        self._closed_col = self.eyes.labels.index("closed")
        self.config = config or DriveConfig()
        self.reset()

    def reset(self) -> None:
        c = self.config
        self._history: deque[tuple[float, bool]] = deque()
        self._closed_since: float | None = None
        self._microsleep_reported = False
        self.drowsy = Hysteresis(on_after=c.drowsy_hold_s, off_after=c.drowsy_hold_s)
        self.distraction = Hysteresis(on_after=c.distraction_s, off_after=c.clear_s)

    def update(self, frame: np.ndarray, t: float) -> DriverState:
        """Analyse the frame taken at ``t`` seconds; returns the state and any new events."""
        c = self.config
        bgr = to_bgr8(frame)
        faces = self.detector.detect(bgr)
        state = DriverState(t=t)
        widths = faces.xyxy[:, 2] - faces.xyxy[:, 0]
        if len(faces) and faces.landmarks is not None and widths.max() >= c.min_face:
            i = int(np.argmax(widths))
            state.box, state.landmarks = faces.xyxy[i], faces.landmarks[i]
            probs = self.eyes.predict(eye_crops(bgr, state.landmarks, self.eyes.spec.input_size))
            state.p_closed = float(probs[:, self._closed_col].mean())
            state.eyes_closed = state.p_closed >= c.closed_threshold
            state.pose = head_pose(state.landmarks, (bgr.shape[1], bgr.shape[0]))
            state.looking_away = state.pose is not None and (
                abs(state.pose.yaw) > c.yaw_limit or abs(state.pose.pitch) > c.pitch_limit
            )
            self._history.append((t, state.eyes_closed))
        while self._history and self._history[0][0] < t - c.perclos_window:
            self._history.popleft()
        state.perclos = float(np.mean([closed for _, closed in self._history])) if self._history else 0.0

        # Microsleep: one event when a closure ends (or the face is lost) after microsleep_s.
        if state.eyes_closed:
            if self._closed_since is None:
                self._closed_since = t
            state.closed_for = t - self._closed_since
            if state.closed_for >= c.microsleep_s and not self._microsleep_reported:
                self._microsleep_reported = True
                state.events.append(
                    {"t": round(t, 3), "event": "microsleep", "state": "on", "closed_since": round(self._closed_since, 3)}
                )
        elif self._closed_since is not None:
            if self._microsleep_reported:
                state.events.append(
                    {"t": round(t, 3), "event": "microsleep", "state": "off", "duration_s": round(t - self._closed_since, 3)}
                )
            self._closed_since, self._microsleep_reported = None, False
        state.microsleep = self._microsleep_reported

        # PERCLOS over a nearly empty window is one blink away from 100%: wait for half a window of data.
        span = t - self._history[0][0] if self._history else 0.0
        perclos_condition = span >= c.perclos_window / 2 and state.perclos >= (
            c.perclos_off if self.drowsy.active else c.perclos_on
        )
        change = self.drowsy.update(perclos_condition, t)
        if change:
            state.events.append({"t": round(t, 3), "event": "drowsy", "state": change, "perclos": round(state.perclos, 3)})
        away = state.box is None or state.looking_away
        change = self.distraction.update(away, t)
        if change:
            event = {"t": round(t, 3), "event": "distracted", "state": change}
            if change == "on":
                event["reason"] = "no face" if state.box is None else "looking away"
                if state.pose is not None:
                    event.update(yaw=round(state.pose.yaw, 1), pitch=round(state.pose.pitch, 1))
            state.events.append(event)
        state.drowsy, state.distracted = self.drowsy.active, self.distraction.active
        return state


ALERT_RED, OK_GREEN, WHITE, BLACK = (0, 0, 230), (60, 200, 60), (255, 255, 255), (0, 0, 0)


class DriveAnnotator:
    """Draw the driver's box, eye state, PERCLOS, head pose and large alarm banners.

    Example:
        >>> scene = DriveAnnotator().annotate(frame.copy(), state)  # doctest: +SKIP
    """

    def __init__(self, scale: float = 0.8) -> None:
        self.scale = scale

    def _text(self, scene: np.ndarray, text: str, org: tuple[int, int], color=WHITE, scale: float | None = None) -> None:
        s = scale or self.scale
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, s, 2)
        x, y = org
        cv2.rectangle(scene, (x - 4, y - th - 6), (x + tw + 4, y + base + 2), BLACK, -1)
        cv2.putText(scene, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, s, color, 2, cv2.LINE_AA)

    def annotate(self, scene: np.ndarray, state: DriverState) -> np.ndarray:
        h, w = scene.shape[:2]
        if state.box is not None:
            x1, y1, x2, y2 = state.box.astype(int)
            color = ALERT_RED if state.drowsy or state.distracted or state.microsleep else OK_GREEN
            cv2.rectangle(scene, (x1, y1), (x2, y2), color, 2)
            for x, y in state.landmarks[:2].astype(int):
                cv2.circle(scene, (x, y), 3, ALERT_RED if state.eyes_closed else OK_GREEN, -1)
        eyes = "no face" if state.p_closed is None else f"eyes {'CLOSED' if state.eyes_closed else 'open'} ({state.p_closed:.0%})"
        self._text(scene, eyes, (10, 30))
        self._text(scene, f"PERCLOS {state.perclos:.0%}", (10, 62))
        if state.pose is not None:
            self._text(scene, f"yaw {state.pose.yaw:+.0f}  pitch {state.pose.pitch:+.0f}", (10, 94))
        banners = [
            b for b, on in (("MICROSLEEP", state.microsleep), ("DROWSY", state.drowsy), ("EYES OFF ROAD", state.distracted)) if on
        ]
        for k, banner in enumerate(banners):
            (tw, th), _ = cv2.getTextSize(banner, cv2.FONT_HERSHEY_SIMPLEX, 1.4, 3)
            y = h - 20 - k * (th + 24)
            cv2.rectangle(scene, ((w - tw) // 2 - 12, y - th - 12), ((w + tw) // 2 + 12, y + 12), ALERT_RED, -1)
            cv2.putText(scene, banner, ((w - tw) // 2, y), cv2.FONT_HERSHEY_SIMPLEX, 1.4, WHITE, 3, cv2.LINE_AA)
        return scene


@dataclass
class DriveSummary:
    frames: int
    events: int
    skipped: int
    fps: float


def monitor_driver(
    monitor: DriverMonitor,
    source: str | int | Path,
    events: str | Path | None = None,
    records: str | Path | None = None,
    output: str | Path | None = None,
    max_frames: int | None = None,
) -> DriveSummary:
    """Run ``monitor`` on every frame of a video, camera or stream (the work behind ``ferlite drive``).

    Args:
        events: alarm events as JSON lines, each written as it happens (default: printed to stdout).
        records: a CSV row per frame (eye closure, PERCLOS, yaw, pitch, alarms).
        output: the video annotated with the driver's state.
        max_frames: stop after this many frames.
    """
    import csv
    import json

    from ..runtime import FPSMonitor, FrameSource, process_video

    frames = FrameSource(source)
    events_file = open(Path(events), "w") if events else None  # noqa: SIM115 (closed below)
    records_file = open(Path(records), "w", newline="") if records else None  # noqa: SIM115
    rows: csv.DictWriter | None = None
    annotator, fps = DriveAnnotator(), FPSMonitor()
    n_events = 0

    def on_frame(frame: np.ndarray, index: int) -> np.ndarray | None:
        nonlocal rows, n_events
        state = monitor.update(frame, frames.time_of(index))
        fps.tick()
        for event in state.events:
            n_events += 1
            line = json.dumps(event)
            if events_file:
                events_file.write(line + "\n")
                events_file.flush()
            else:
                print(line, flush=True)
        if records_file:
            row = state.to_dict()
            if rows is None:
                rows = csv.DictWriter(records_file, fieldnames=list(row))
                rows.writeheader()
            rows.writerow(row)
        return annotator.annotate(frame, state) if output else None

    try:
        count = process_video(frames, on_frame, sink=output, max_frames=max_frames)
    finally:
        for f in (events_file, records_file):
            if f:
                f.close()
    return DriveSummary(frames=count, events=n_events, skipped=frames.skipped, fps=fps.fps)
