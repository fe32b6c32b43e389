"""Images as users give them: any of gray, BGR or BGRA, 8- or 16-bit, any size.

Everything is normalised here, once, so the detector and classifier only see 8-bit BGR
or gray. Reading a file gives a clear error naming it when it is not an image.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

# An image bomb (a small file whose header says 30000x30000) must be refused before it is decoded. OpenCV's own cap
# (OPENCV_IO_MAX_IMAGE_PIXELS) is read once, when OpenCV is loaded, so it cannot be relied on: any module may import
# OpenCV first. So every decode here reads the size from the file's header first, and data whose header this module
# cannot read is not handed to OpenCV at all. FERLITE_MAX_IMAGE_PIXELS changes the cap.
MAX_IMAGE_PIXELS = int(os.environ.get("FERLITE_MAX_IMAGE_PIXELS", 40_000_000))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from ..core.errors import DataError  # noqa: E402
from ..core.paths import readable_file  # noqa: E402

# The formats whose header image_size_from_header reads: the only ones decode_image passes to OpenCV.
READABLE_FORMATS = "PNG, JPEG, BMP, GIF, WebP, TIFF, JPEG 2000, AVIF, PNM/PAM/PFM, Sun raster, Radiance HDR"
# OpenCV's flags for a decode that keeps 16-bit depth and turns the image upright by its EXIF orientation (a phone's
# portrait photo is stored sideways with orientation 6). IMREAD_UNCHANGED would ignore the orientation.
UPRIGHT_ANY_DEPTH = cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH

# The image files ferlite reads: folders of photos (analyze), of training faces, of a person's faces (personalize).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})

# Larger images are shrunk before detection: a 100-megapixel photo would otherwise take
# seconds and gigabytes, and faces in it are far larger than the detector needs.
MAX_SIDE = 4096
# A side below this holds no face; it also keeps a 1x20000 strip from reaching OpenCV's resize.
MIN_SIDE = 8


def image_size_from_header(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` read from an image file's header, without decoding; None for data in none of
    ``READABLE_FORMATS`` or with a header too short to read.

    Example:
        >>> image_size_from_header(cv2.imencode(".png", np.zeros((30, 40), np.uint8))[1].tobytes())
        (40, 30)
        >>> image_size_from_header(cv2.imencode(".tiff", np.zeros((30, 40), np.uint8))[1].tobytes())
        (40, 30)
    """
    for reader in _HEADER_READERS:
        try:
            size = reader(data)
        except (struct.error, IndexError, KeyError, ValueError):  # a header cut short: unreadable, so refused
            return None
        if size is not None:
            return size
    return None


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return struct.unpack(">II", data[16:24])
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
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


def _bmp_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] == b"BM":
        w, h = struct.unpack("<ii", data[18:26])
        return abs(w), abs(h)
    return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
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


def _tiff_size(data: bytes) -> tuple[int, int] | None:
    """The largest page of a TIFF: OpenCV decodes the first, and a file may hold more."""
    order = {b"II": "<", b"MM": ">"}.get(data[:2])
    if order is None or struct.unpack(order + "H", data[2:4])[0] != 42:
        return None
    offset, largest, pages = struct.unpack(order + "I", data[4:8])[0], None, 0
    while offset and pages < 64:
        (count,) = struct.unpack(order + "H", data[offset : offset + 2])
        tags = {}
        for k in range(count):
            tag, kind, _, value = struct.unpack(order + "HHI4s", data[offset + 2 + 12 * k : offset + 14 + 12 * k])
            if tag in (256, 257):  # ImageWidth, ImageLength: SHORT (3) or LONG (4)
                tags[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), value[: 2 if kind == 3 else 4])[0]
        if 256 not in tags or 257 not in tags:
            return None
        size = (tags[256], tags[257])
        largest = size if largest is None or size[0] * size[1] > largest[0] * largest[1] else largest
        (offset,) = struct.unpack(order + "I", data[offset + 2 + 12 * count : offset + 6 + 12 * count])
        pages += 1
    return largest


def _jpeg2000_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] == b"\xff\x4f\xff\x51":  # a bare codestream: its SIZ segment
        x, y, x0, y0 = struct.unpack(">IIII", data[8:24])
        return x - x0, y - y0
    if data[4:8] != b"jP  ":
        return None
    at = data.find(b"ihdr")  # inside the jp2h box: height, then width
    if at < 0:
        return None
    h, w = struct.unpack(">II", data[at + 4 : at + 12])
    return w, h


def _netpbm_size(data: bytes) -> tuple[int, int] | None:
    """PBM, PGM, PPM (P1-P6) and PFM (PF, Pf): the first two numbers after the magic, past comments; PAM (P7):
    its WIDTH and HEIGHT lines."""
    magic = data[:2]
    if magic == b"P7":
        fields = dict(line.split()[:2] for line in data[:1024].decode("ascii", "replace").splitlines()[1:] if " " in line)
        return int(fields["WIDTH"]), int(fields["HEIGHT"])
    if magic not in (b"P1", b"P2", b"P3", b"P4", b"P5", b"P6", b"PF", b"Pf"):
        return None
    words = []
    for line in data[2:1024].split(b"\n"):
        words += line.split(b"#")[0].split()
        if len(words) >= 2:
            return int(words[0]), int(words[1])
    return None


def _sun_raster_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] == b"\x59\xa6\x6a\x95":
        return struct.unpack(">II", data[4:12])
    return None


def _radiance_size(data: bytes) -> tuple[int, int] | None:
    """Radiance HDR: the resolution line after the header's blank line, such as ``-Y 480 +X 640``."""
    if not (data.startswith(b"#?RADIANCE") or data.startswith(b"#?RGBE")):
        return None
    end = data.find(b"\n\n")
    if end < 0:
        return None
    words = data[end + 2 : end + 64].split(b"\n")[0].split()
    sizes = {words[0][1:2]: int(words[1]), words[2][1:2]: int(words[3])}
    return sizes[b"X"], sizes[b"Y"]


def _avif_size(data: bytes) -> tuple[int, int] | None:
    """AVIF (ISO base media): the largest ``ispe`` (image spatial extents) property, which for a grid of tiles is the
    whole image's."""
    if data[4:8] != b"ftyp" or data[8:12] not in (b"avif", b"avis", b"mif1", b"msf1"):
        return None
    sizes, at = [], data.find(b"ispe")
    while at >= 0:
        sizes.append(struct.unpack(">II", data[at + 8 : at + 16]))
        at = data.find(b"ispe", at + 4)
    return max(sizes, key=lambda s: s[0] * s[1]) if sizes else None


_HEADER_READERS = (
    _png_size,
    _jpeg_size,
    _bmp_size,
    _gif_size,
    _webp_size,
    _tiff_size,
    _jpeg2000_size,
    _netpbm_size,
    _sun_raster_size,
    _radiance_size,
    _avif_size,
)


def decode_image(
    data: bytes | np.ndarray,
    name: str,
    flags: int = UPRIGHT_ANY_DEPTH,
    max_pixels: int = MAX_IMAGE_PIXELS,
    max_side: int | None = None,
) -> np.ndarray:
    """Decode an encoded image, upright by its EXIF orientation unless ``flags`` say otherwise.

    The size is read from the header first, and the image is refused before any decoding when it is over
    ``max_pixels``, has a side over ``max_side`` (when given) or under ``MIN_SIDE`` (a decompression bomb, a 1-pixel
    strip), or when its header is in
    none of ``READABLE_FORMATS``: the cap then holds whatever OpenCV itself would allow. Every refusal is a DataError
    that names ``name``.

    Example:
        >>> decode_image(b"not an image", "upload")
        Traceback (most recent call last):
        ...
        ferlite.core.errors.DataError: upload: not a readable image (not one of PNG, JPEG, BMP, GIF, WebP, TIFF, JPEG 2000, AVIF, PNM/PAM/PFM, Sun raster, Radiance HDR)
    """
    raw = bytes(data) if isinstance(data, (bytes, bytearray)) else data.tobytes()
    buf = np.frombuffer(raw, np.uint8)
    size = image_size_from_header(raw)
    if size is None:
        raise DataError(f"{name}: not a readable image (not one of {READABLE_FORMATS})")
    w, h = size
    if max_side is not None and max(w, h) > max_side:
        raise DataError(f"{name}: image of {w}x{h} pixels is larger than {max_side} pixels on a side")
    if w * h > max_pixels:
        raise DataError(f"{name}: image of {w}x{h} pixels is over the cap of {max_pixels:,} (FERLITE_MAX_IMAGE_PIXELS)")
    if min(w, h) < MIN_SIDE:
        raise DataError(f"{name}: image of {w}x{h} pixels has a side under {MIN_SIDE}: no face fits")
    try:
        image = cv2.imdecode(buf, flags)
    except cv2.error:
        image = None
    if image is None:
        raise DataError(f"{name}: not a readable image (corrupt or truncated)")
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


def from_pil(image: object) -> np.ndarray | None:
    """A PIL image as 8-bit BGR, upright by its EXIF orientation (PIL's pixels are RGB, ferlite's arrays BGR); None
    for anything else. PIL is the caller's: the runtime does not import it otherwise.

    Example:
        >>> from PIL import Image  # doctest: +SKIP
        >>> from_pil(Image.new("RGB", (4, 2), (255, 0, 0)))[0, 0]  # doctest: +SKIP
        array([  0,   0, 255], dtype=uint8)
    """
    if isinstance(image, np.ndarray) or not all(hasattr(image, a) for a in ("convert", "mode", "getexif")):
        return None
    from PIL import ImageOps

    rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))  # type: ignore[call-overload]
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def to_bgr8(image: np.ndarray) -> np.ndarray:
    """8-bit BGR from gray, BGR or BGRA of 8 or 16 bits, or from a PIL image."""
    pil = from_pil(image)
    if pil is not None:
        return pil
    image = to_uint8(image)
    if image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 1):
        return cv2.cvtColor(image.reshape(image.shape[:2]), cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise DataError(f"unsupported image shape {image.shape}")


def to_gray8(image: np.ndarray) -> np.ndarray:
    """8-bit gray from gray, BGR or BGRA of 8 or 16 bits, or from a PIL image."""
    pil = from_pil(image)
    image = to_uint8(image if pil is None else pil)
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
    path = readable_file(path, "image")
    image = to_bgr8(decode_image(np.fromfile(path, np.uint8), str(path)))
    h, w = image.shape[:2]
    if max(h, w) <= MAX_SIDE:
        return image, 1.0
    s = MAX_SIDE / max(h, w)
    return cv2.resize(image, (max(1, round(w * s)), max(1, round(h * s))), interpolation=cv2.INTER_AREA), s
