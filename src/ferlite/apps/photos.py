"""Still photos to JSON lines: the work behind ``ferlite predict``.

Each readable image gives one JSON object (``source``, ``width``, ``height``, ``faces`` as :meth:`Faces.to_dicts`
gives them), boxes in the file's own pixels even where it was shrunk on reading. An unreadable image is named through
``say`` and skipped, or stops the run under ``strict``.

Example:
    >>> import sys
    >>> from ferlite.runtime import Recognizer
    >>> done = predict_photos(Recognizer(), ["photo.jpg"], sys.stdout, annotate="annotated/")  # doctest: +SKIP
    >>> done.read, done.skipped  # doctest: +SKIP
    (1, 0)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import cv2

from ..core.errors import DataError, stderr_reporter
from ..runtime import annotate_faces
from ..runtime.image import read_image_scaled
from ..runtime.recognizer import Recognizer

# Annotated copies keep their input's format (a 1.6 MB JPEG became a 10.3 MB PNG); others become PNG.
ANNOTATED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


say_on_stderr = stderr_reporter("predict")


@dataclass
class PhotosDone:
    """How many images were read and written, and how many were skipped as unreadable."""

    read: int = 0
    skipped: int = 0


def predict_photos(
    recognizer: Recognizer,
    paths: Iterable[str | Path],
    out: TextIO,
    *,
    annotate: str | Path | None = None,
    crops: bool = False,
    strict: bool = False,
    say: Callable[[str], None] = say_on_stderr,
) -> PhotosDone:
    """Write one JSON line per readable image of ``paths`` to ``out``.

    Args:
        annotate: also write each image with its faces drawn into this folder (:func:`annotated_name`).
        crops: the images are face crops: each whole image is one face, no detection.
        strict: raise the first unreadable image's :class:`DataError` instead of skipping it.
        say: where a skipped image is named (stderr by default: ``out`` may be stdout).
    """
    done, written = PhotosDone(), set()
    for path in paths:
        try:
            image, scale = read_image_scaled(path)
        except DataError as e:
            if strict:
                raise
            say(f"skipped {e}")
            done.skipped += 1
            continue
        faces = recognizer.classify_crops([image]) if crops else recognizer.predict(image)
        width, height = round(image.shape[1] / scale), round(image.shape[0] / scale)
        record = {"source": str(path), "width": width, "height": height, "faces": faces.scaled(1 / scale).to_dicts()}
        out.write(json.dumps(record) + "\n")
        done.read += 1
        if annotate:
            dest = annotated_name(Path(annotate), Path(path), written)
            dest.parent.mkdir(parents=True, exist_ok=True)
            # JPEG's quality only for JPEGs: OpenCV warns on stderr about a key the format does not take.
            quality = [cv2.IMWRITE_JPEG_QUALITY, 92] if dest.suffix in (".jpg", ".jpeg") else []
            cv2.imwrite(str(dest), annotate_faces(image.copy(), faces), quality)
    return done


def annotated_name(folder: Path, source: Path, written: set[Path]) -> Path:
    """``folder/STEM_ferlite.EXT`` (EXT the input's, where it is in ``ANNOTATED_SUFFIXES``), or ``STEM_ferlite_2.EXT``
    and on when that exists or this run wrote it: two inputs named ``photo.jpg`` (from two folders) give two outputs,
    and nothing already there is overwritten."""
    suffix = source.suffix.lower() if source.suffix.lower() in ANNOTATED_SUFFIXES else ".png"
    dest, n = folder / f"{source.stem}_ferlite{suffix}", 1
    while dest in written or dest.exists():
        n += 1
        dest = folder / f"{source.stem}_ferlite_{n}{suffix}"
    written.add(dest)
    return dest
