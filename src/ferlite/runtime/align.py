"""Face crops for the classifier: a square around the box, with a margin, eyes levelled.

One ``cv2.warpAffine`` per face does the rotation, the crop and the resize to the
classifier's input size at once, on the grayscale frame (the classifier is grayscale).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .faces import Faces
from .image import to_gray8


def align_crops(image: np.ndarray, faces: Faces, size: int, margin: float = 0.15, align: bool = True) -> list[np.ndarray]:
    """Gray ``size`` x ``size`` crops of each face.

    Args:
        image: the frame (BGR, BGRA or gray).
        faces: boxes, and landmarks when the detector gives them.
        size: output side (the classifier's input size).
        margin: the square side is the box's longer side times ``1 + margin``.
        align: rotate so that the eyes are level (needs landmarks).

    Example:
        >>> crops = align_crops(frame, faces, 96)  # doctest: +SKIP
    """
    gray = to_gray8(image)
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
        crops.append(cv2.warpAffine(gray, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE))
    return crops
