"""Images as users give them: any of gray, BGR or BGRA, 8- or 16-bit, any size.

Everything is normalised here, once, so the detector and classifier only see 8-bit BGR
or gray. Reading a file gives a clear error naming it when it is not an image.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import DataError

# Larger images are shrunk before detection: a 100-megapixel photo would otherwise take
# seconds and gigabytes, and faces in it are far larger than the detector needs.
MAX_SIDE = 4096


def to_uint8(image: np.ndarray) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise DataError("not an image (empty or not a numpy array)")
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return (image >> 8).astype(np.uint8)
    if np.issubdtype(image.dtype, np.floating) and image.max() <= 1.0:
        return (np.clip(image, 0, 1) * 255).astype(np.uint8)
    return np.clip(image, 0, 255).astype(np.uint8)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """8-bit BGR from gray, BGR or BGRA of 8 or 16 bits."""
    image = to_uint8(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise DataError(f"unsupported image shape {image.shape}")


def to_gray8(image: np.ndarray) -> np.ndarray:
    """8-bit gray from gray, BGR or BGRA of 8 or 16 bits."""
    image = to_uint8(image)
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return image[:, :, 0]
    return cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)


def read_image(path: str | Path) -> np.ndarray:
    """Read an image file as 8-bit BGR, shrunk to at most ``MAX_SIDE`` pixels a side.

    Raises:
        DataError: naming the file when it is missing or not a decodable image.
    """
    return read_image_scaled(path)[0]


def read_image_scaled(path: str | Path) -> tuple[np.ndarray, float]:
    """Like :func:`read_image`, with the factor the image was shrunk by (1.0 when it was not), so that boxes found
    on it can be given back in the file's own pixels.

    Example:
        >>> image, scale = read_image_scaled("photo_6000px.jpg")  # doctest: +SKIP
        >>> scale  # doctest: +SKIP
        0.6826666666666666
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: file not found")
    data = np.fromfile(path, np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None:
        raise DataError(f"{path}: not a readable image (corrupt, truncated or unsupported format)")
    image = to_bgr8(image)
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image, 1.0
    s = MAX_SIDE / max(h, w)
    return cv2.resize(image, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA), s
