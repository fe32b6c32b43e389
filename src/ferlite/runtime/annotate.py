"""Annotators: ``annotate(scene, faces) -> scene``, chained by passing the scene on.

Example:
    >>> scene = LabelAnnotator().annotate(BoxAnnotator().annotate(frame.copy(), faces), faces)  # doctest: +SKIP
"""

from __future__ import annotations

import cv2
import numpy as np

from .faces import Faces

# One colour per emotion (BGR), so a label reads at a glance.
EMOTION_COLORS = {
    "angry": (40, 40, 220),
    "disgust": (40, 140, 60),
    "fear": (150, 60, 150),
    "happy": (0, 200, 255),
    "sad": (200, 110, 30),
    "surprise": (230, 200, 0),
    "neutral": (180, 180, 180),
    "contempt": (90, 90, 160),
}


def color_for(label: str) -> tuple[int, int, int]:
    return EMOTION_COLORS.get(label, (0, 255, 0))


class BoxAnnotator:
    """Draw each face box in its emotion's colour."""

    def __init__(self, thickness: int = 2) -> None:
        self.thickness = thickness

    def annotate(self, scene: np.ndarray, faces: Faces) -> np.ndarray:
        for box, label in zip(faces.xyxy.astype(int), faces.label):
            cv2.rectangle(scene, tuple(box[:2]), tuple(box[2:]), color_for(label), self.thickness)
        return scene


class LabelAnnotator:
    """A high-contrast caption above each face: emotion, probability and track ID."""

    def __init__(self, scale: float = 0.7, thickness: int = 2) -> None:
        self.scale, self.thickness = scale, thickness

    def annotate(self, scene: np.ndarray, faces: Faces) -> np.ndarray:
        for i, label in enumerate(faces.label):
            if not label:
                continue
            text = f"{label} {faces.scores[i].max():.0%}" if faces.scores is not None else str(label)
            if faces.tracker_id is not None:
                text = f"#{faces.tracker_id[i]} {text}"
            x1, y1 = faces.xyxy[i, :2].astype(int)
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, self.scale, self.thickness)
            y = max(th + base + 2, y1)
            cv2.rectangle(scene, (x1, y - th - base - 4), (x1 + tw + 6, y), (0, 0, 0), -1)
            cv2.putText(
                scene,
                text,
                (x1 + 3, y - base - 2),
                cv2.FONT_HERSHEY_SIMPLEX,
                self.scale,
                color_for(label),
                self.thickness,
                cv2.LINE_AA,
            )
        return scene


class FPSAnnotator:
    """Frames per second in the top-left corner."""

    def annotate(self, scene: np.ndarray, fps: float) -> np.ndarray:
        cv2.putText(scene, f"{fps:.0f} FPS", (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2, cv2.LINE_AA)
        return scene


class CaptionAnnotator:
    """Large, high-contrast captions of each person's dominant emotion in a band at the bottom.

    White text on black, sized to the frame (about 1/16 of its height): an accessibility aid
    readable from a distance and by people with low vision.

    Example:
        >>> scene = CaptionAnnotator().annotate(frame.copy(), faces)  # doctest: +SKIP
    """

    def __init__(self, scale: float | None = None) -> None:
        self.scale = scale

    def annotate(self, scene: np.ndarray, faces: Faces) -> np.ndarray:
        h, w = scene.shape[:2]
        if faces.tracker_id is not None:
            parts = [f"Person {tid}: {label}" for tid, label in zip(faces.tracker_id, faces.label) if label]
        else:
            parts = [f"Person {i + 1}: {label}" for i, label in enumerate(faces.label) if label]
        text = "   ".join(parts) if parts else "No face"
        scale = self.scale or h / 480 * 1.3
        thickness = max(2, int(round(scale * 2.2)))
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        while tw > w - 20 and scale > 0.4:  # shrink to fit many people on one line
            scale *= 0.9
            (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        band = th + base + 20
        cv2.rectangle(scene, (0, h - band), (w, h), (0, 0, 0), -1)
        cv2.putText(
            scene, text, ((w - tw) // 2, h - base - 10), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness, cv2.LINE_AA
        )
        return scene


def annotate_faces(scene: np.ndarray, faces: Faces) -> np.ndarray:
    """Boxes and labels, the usual pair."""
    return LabelAnnotator().annotate(BoxAnnotator().annotate(scene, faces), faces)
