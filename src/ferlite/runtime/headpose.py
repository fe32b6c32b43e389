"""Head pose (yaw, pitch, roll) from a face's five landmarks with ``cv2.solvePnP``.

Five points (eyes, nose tip, mouth corners) on a generic 3-D face give a coarse pose:
good to about 10 degrees for yaw, rougher for pitch, which is enough to tell "looking
at the road" from "looking away". The camera is modelled as a pinhole with the focal
length equal to the frame width and no distortion (no calibration is needed).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# A generic adult face in millimetres, OpenCV camera axes (x right, y down, z away from
# the camera), nose tip at the origin; YuNet's landmark order (right eye first, seen on the
# image's left).
FACE_MODEL_3D = np.array(
    [
        [-32.0, -35.0, 28.0],  # right eye centre
        [32.0, -35.0, 28.0],  # left eye centre
        [0.0, 0.0, 0.0],  # nose tip
        [-26.0, 30.0, 22.0],  # right mouth corner
        [26.0, 30.0, 22.0],  # left mouth corner
    ],
    dtype=np.float64,
)


@dataclass(frozen=True)
class HeadPose:
    """Degrees. Yaw > 0: the face turns to the image's right; pitch > 0: it tilts up; roll > 0: clockwise."""

    yaw: float
    pitch: float
    roll: float


def head_pose(landmarks: np.ndarray, frame_size: tuple[int, int]) -> HeadPose | None:
    """Pose of one face from its (5, 2) landmarks; ``None`` when solvePnP fails.

    Args:
        landmarks: YuNet's five points in pixels.
        frame_size: (width, height) of the frame.

    Example:
        >>> pose = head_pose(faces.landmarks[0], (640, 480))  # doctest: +SKIP
        >>> abs(pose.yaw) < 20  # a frontal face  # doctest: +SKIP
        True
    """
    w, h = frame_size
    camera = np.array([[w, 0, w / 2], [0, w, h / 2], [0, 0, 1]], dtype=np.float64)
    points = np.asarray(landmarks, dtype=np.float64).reshape(5, 2)
    ok, rvec, _ = cv2.solvePnP(FACE_MODEL_3D, points, camera, None, flags=cv2.SOLVEPNP_EPNP)
    if not ok:
        return None
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]  # degrees about x, y, z
    pitch, yaw, roll = (float(a) for a in angles)
    # RQDecomp3x3 returns pitch near +-180 for some solutions of a frontal face: fold into (-90, 90].
    pitch = (pitch + 90.0) % 180.0 - 90.0
    return HeadPose(yaw=-yaw, pitch=-pitch, roll=roll)
