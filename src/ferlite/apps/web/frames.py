"""The frames a page sends over its WebSocket, and the images of the REST calls: limits checked before anything is
decoded, and decoding that names what is wrong with a message."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

MAX_BYTES = 2_000_000  # one JPEG frame; a 1280x720 webcam frame at quality 0.8 is about 150 kB
MAX_SIDE = 1280
MAX_FPS = 10.0


def check_size(data: bytes, max_bytes: int = MAX_BYTES) -> None:
    """``ValueError`` for a frame message over ``max_bytes``."""
    if len(data) > max_bytes:
        raise ValueError(f"frame of {len(data)} bytes is over the limit of {max_bytes}")


def decode_frame(data: bytes, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> np.ndarray:
    """A BGR frame from an encoded image message; ``ValueError`` with a clear reason otherwise.

    The size is read from the JPEG or PNG header first (by :func:`~ferlite.runtime.image.decode_image`): a small
    message that claims a huge image (an image bomb) is refused before anything is decoded.
    """
    from ...core.errors import DataError
    from ...runtime.image import decode_image

    check_size(data, max_bytes)
    if len(data) == 0:
        raise ValueError("empty frame")
    if data[:2] != b"\xff\xd8" and data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a decodable JPEG or PNG image")
    try:
        return decode_image(data, "frame", cv2.IMREAD_COLOR, max_pixels=max_side * max_side, max_side=max_side)
    except DataError as e:
        raise ValueError(str(e)) from None


def decode_upload(data: bytes, name: str) -> np.ndarray:
    """A BGR image from one REST upload (any format :func:`~ferlite.runtime.image.decode_image` reads, within its
    pixel cap); ``ValueError`` naming the file and the problem otherwise."""
    from ...core.errors import DataError
    from ...runtime.image import decode_image, to_bgr8

    try:
        return to_bgr8(decode_image(data, name))
    except DataError as e:
        raise ValueError(str(e)) from None


@dataclass(frozen=True)
class FrameLimits:
    """What one WebSocket client may send: frames per second, bytes per message, pixels per side.

    Example:
        >>> limits = FrameLimits(max_fps=10)
        >>> limits.too_soon(now=1.05, last=1.0), limits.too_soon(now=1.1, last=1.0)
        (True, False)
    """

    max_fps: float = MAX_FPS
    max_bytes: int = MAX_BYTES
    max_side: int = MAX_SIDE

    def too_soon(self, now: float, last: float) -> bool:
        """Whether a frame at ``now`` (seconds) comes too soon after the one accepted at ``last``; 20% slack, since
        the page paces itself at ``max_fps`` and network jitter bunches frames up."""
        return now - last < 0.8 / self.max_fps

    def check_size(self, data: bytes) -> None:
        check_size(data, self.max_bytes)

    def decode(self, data: bytes) -> np.ndarray:
        return decode_frame(data, self.max_bytes, self.max_side)
