"""Face crops for the classifier: a square around the box, with a margin, eyes levelled.

One ``cv2.warpAffine`` per face does the rotation, the crop and the resize to the
classifier's input size at once, on the grayscale frame for gray classifiers (warping one channel, not three)
and on the colour frame for ``rgb`` ones.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .faces import Faces
from .image import to_bgr8, to_gray8


def align_crops(
    image: np.ndarray, faces: Faces, size: int, margin: float = 0.15, align: bool = True, color: bool = False
) -> list[np.ndarray]:
    """Gray (or, with ``color``, BGR) ``size`` x ``size`` crops of each face.

    Args:
        image: the frame (BGR, BGRA or gray).
        faces: boxes, and landmarks when the detector gives them.
        size: output side (the classifier's input size).
        margin: the square side is the box's longer side times ``1 + margin``.
        align: rotate so that the eyes are level (needs landmarks).
        color: keep the frame's colours (for ``rgb`` classifiers).

    Example:
        >>> crops = align_crops(frame, faces, 96)  # doctest: +SKIP
    """
    frame = to_bgr8(image) if color else to_gray8(image)
    crops = []
    for i in range(len(faces)):
        x1, y1, x2, y2 = faces.xyxy[i]
        cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
        side = max(x2 - x1, y2 - y1, 1.0) * (1 + margin)
        angle = 0.0
        if align and faces.landmarks is not None:
            (rx, ry), (lx, ly) = faces.landmarks[i, 0], faces.landmarks[i, 1]
            angle = math.degrees(math.atan2(ly - ry, lx - rx))
        # Rotate about the box centre and scale the square onto size x size.
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / side)
        m[0, 2] += size / 2 - cx
        m[1, 2] += size / 2 - cy
        crops.append(cv2.warpAffine(frame, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return crops


# Side of an eye patch as a fraction of the distance between the eye centres: the framing of
# CEW's 24x24 patches (the eye-state model's training data), checked on the one-face clip.
EYE_PATCH_SCALE = 0.65


def eye_crops(image: np.ndarray, landmarks: np.ndarray, size: int = 24, scale: float = EYE_PATCH_SCALE) -> list[np.ndarray]:
    """Gray ``size`` x ``size`` patches of both eyes of one face, levelled: [right eye, left eye].

    Args:
        image: the frame (BGR, BGRA or gray).
        landmarks: (5, 2) points in YuNet's order (right eye, left eye, nose, mouth corners).
        size: output side (the eye-state model's input size).
        scale: patch side as a fraction of the inter-eye distance.

    Example:
        >>> right, left = eye_crops(frame, faces.landmarks[0])  # doctest: +SKIP
    """
    gray = to_gray8(image)
    (rx, ry), (lx, ly) = landmarks[0], landmarks[1]
    distance = max(math.hypot(lx - rx, ly - ry), 1.0)
    angle = math.degrees(math.atan2(ly - ry, lx - rx))
    crops = []
    for cx, cy in (landmarks[0], landmarks[1]):
        m = cv2.getRotationMatrix2D((float(cx), float(cy)), angle, size / (scale * distance))
        m[0, 2] += size / 2 - cx
        m[1, 2] += size / 2 - cy
        crops.append(cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_AREA, borderMode=cv2.BORDER_REPLICATE))
    return crops
