"""``ferlite serve``: an emotion-aware web app (FastAPI, WebSocket, the browser's camera).

The page (``static/``) captures the webcam with ``getUserMedia``, sends JPEG frames over a
WebSocket, and draws the faces and emotions the server answers with: boxes, large
high-contrast captions, a live mood bar, and a theme that follows the dominant emotion.

Protocol, one WebSocket per page at ``/ws``:

- server -> client first: ``{"type": "hello", "labels": [...], "max_fps": 10, "max_bytes": ..., "max_side": ...}``
- client -> server: a binary message, one JPEG or PNG frame;
- server -> client: ``{"type": "faces", "frame": n, "faces": [...], "ms": 12.3}``, or
  ``{"type": "error", "message": "..."}`` for a malformed, oversized or too-frequent
  message; the connection stays open and other clients are not affected.

Example:
    >>> from ferlite.apps.web.app import create_app
    >>> app = create_app()  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import cv2
import numpy as np

MAX_BYTES = 2_000_000  # one JPEG frame; a 1280x720 webcam frame at quality 0.8 is about 150 kB
MAX_SIDE = 1280
MAX_FPS = 10.0


def static_dir() -> Path:
    """The page's files (index.html, app.js, style.css), shipped as package data."""
    return Path(str(resources.files("ferlite.apps.web").joinpath("static")))


def check_size(data: bytes, max_bytes: int = MAX_BYTES) -> None:
    """``ValueError`` for a frame message over ``max_bytes``."""
    if len(data) > max_bytes:
        raise ValueError(f"frame of {len(data)} bytes is over the limit of {max_bytes}")


def decode_frame(data: bytes, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> np.ndarray:
    """A BGR frame from an encoded image message; ``ValueError`` with a clear reason otherwise.

    The size is read from the JPEG or PNG header first: a small message that claims a huge image (an image bomb)
    is refused before anything is decoded.
    """
    from ...core.errors import DataError
    from ...runtime.image import decode_image, image_size_from_header

    check_size(data, max_bytes)
    if len(data) == 0:
        raise ValueError("empty frame")
    if data[:2] != b"\xff\xd8" and data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a decodable JPEG or PNG image")
    size = image_size_from_header(data)
    if size is None:
        raise ValueError("not a decodable JPEG or PNG image (no size in its header)")
    if max(size) > max_side:
        raise ValueError(f"frame of {size[0]}x{size[1]} is larger than {max_side} pixels on a side")
    try:
        frame = decode_image(data, "frame", cv2.IMREAD_COLOR, max_pixels=max_side * max_side)
    except DataError as e:
        raise ValueError(str(e)) from None
    h, w = frame.shape[:2]
    if max(h, w) > max_side:
        raise ValueError(f"frame of {w}x{h} is larger than {max_side} pixels on a side")
    return frame
