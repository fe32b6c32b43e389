"""Images as users give them: any of gray, BGR or BGRA, 8- or 16-bit, any size.

Everything is normalised here, once, so the detector and classifier only see 8-bit BGR
or gray. Reading a file gives a clear error naming it when it is not an image.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# An image bomb (a small PNG whose header says 30000x30000) must be refused before it is decoded: every decode is
# checked against this pixel cap, here from the header, and by OpenCV itself for the formats read below it
# (OPENCV_IO_MAX_IMAGE_PIXELS, set before OpenCV first reads it). FERLITE_MAX_IMAGE_PIXELS changes it.
MAX_IMAGE_PIXELS = int(os.environ.get("FERLITE_MAX_IMAGE_PIXELS", 40_000_000))
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))

import cv2  # noqa: E402  (after the pixel cap is in the environment)
import numpy as np  # noqa: E402

from ..core.errors import DataError  # noqa: E402

# The image files ferlite reads: folders of photos (analyze), of training faces, of a person's faces (personalize).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})

# Larger images are shrunk before detection: a 100-megapixel photo would otherwise take
# seconds and gigabytes, and faces in it are far larger than the detector needs.
MAX_SIDE = 4096
# A side below this holds no face; it also keeps a 1x20000 strip from reaching OpenCV's resize.
MIN_SIDE = 8


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from a PNG, JPEG, BMP, GIF or WebP header, without decoding; None for other data.

    Example:
        >>> image_size_from_header(cv2.imencode(".png", np.zeros((30, 40), np.uint8))[1].tobytes())
        (40, 30)
    """
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
                i += 1 if marker == 0xFF else 2
                continue
            length = struct.unpack(">H", data[i + 2 : i + 4])[0]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                h, w = struct.unpack(">HH", data[i + 5 : i + 9])
                return w, h
            i += 2 + length
        return None
    if data[:2] == b"BM" and len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP" and len(data) >= 30:
        kind = data[12:16]
        if kind == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if kind == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
        if kind == b"VP8L":
            bits = int.from_bytes(data[21:25], "little")
            return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    return None


def decode_image(
    data: bytes | np.ndarray, name: str, flags: int = cv2.IMREAD_UNCHANGED, max_pixels: int = MAX_IMAGE_PIXELS
) -> np.ndarray:
    """Decode an encoded image, refusing it from its header when it is over ``max_pixels`` or has a side under
    ``MIN_SIDE`` (a decompression bomb, a 1-pixel strip) and naming ``name`` in a DataError when it is not an image.

    Example:
        >>> decode_image(b"not an image", "upload")
        Traceback (most recent call last):
        ...
        ferlite.core.errors.DataError: upload: not a readable image (corrupt, truncated or unsupported format)
    """
    buf = np.frombuffer(data, np.uint8) if isinstance(data, (bytes, bytearray)) else data
    size = image_size_from_header(buf[:65536].tobytes())
    if size is not None:
        w, h = size
        if w * h > max_pixels:
            raise DataError(f"{name}: image of {w}x{h} pixels is over the cap of {max_pixels:,} (FERLITE_MAX_IMAGE_PIXELS)")
        if min(w, h) < MIN_SIDE:
            raise DataError(f"{name}: image of {w}x{h} pixels has a side under {MIN_SIDE}: no face fits")
    try:
        image = cv2.imdecode(buf, flags) if buf.size else None
    except cv2.error:  # OpenCV's own pixel cap, for formats whose header is not read above
        raise DataError(f"{name}: image is over the cap of {max_pixels:,} pixels, or not decodable") from None
    if image is None:
        raise DataError(f"{name}: not a readable image (corrupt, truncated or unsupported format)")
    if min(image.shape[:2]) < MIN_SIDE:
        raise DataError(f"{name}: image of {image.shape[1]}x{image.shape[0]} pixels has a side under {MIN_SIDE}: no face fits")
    return image


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
    image = to_bgr8(decode_image(np.fromfile(path, np.uint8), str(path)))
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image, 1.0
    s = MAX_SIDE / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s
