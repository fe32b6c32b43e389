"""``ferlite predict IMAGES...``: faces and emotions of still images, as JSON lines.

Each image gives one JSON object on stdout. An unreadable image is reported on stderr
by name and skipped (``--strict`` stops instead); the exit status is 1 when no image
could be read at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2

from ..core.errors import DataError, UsageError
from ..core.options import positive_int
from ..runtime import annotate_faces
from ..runtime.image import read_image_scaled
from ._common import add_runtime_args, build_recognizer


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite predict",
        description="Detect faces and recognise their emotions in images. Prints one JSON object per image "
        "(boxes, landmarks, per-class scores, label). Unreadable images are named and skipped.",
        add_help=add_help,
    )
    p.add_argument("images", nargs="+", help="image files (PNG, JPEG, ...; gray, colour, alpha or 16-bit)")
    p.add_argument("--annotate", default=None, metavar="DIR", help="also write annotated copies into DIR")
    p.add_argument("--output", default=None, metavar="FILE", help="write the JSON lines to FILE instead of stdout")
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable image")
    p.add_argument(
        "--crops",
        action="store_true",
        help="the images are already face crops: classify each whole image, no detection (one face per image)",
    )
    p.add_argument(
        "--det-size",
        type=positive_int,
        default=None,
        metavar="PX",
        help="longer side photos are shrunk to for face detection (default: the photo's own, up to 1280)",
    )
    add_runtime_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    if args.output and Path(args.output).is_dir():
        raise UsageError(f"{args.output}: --output is a folder; give the file for the JSON lines")
    rec = build_recognizer(args)
    rec.det_size = args.det_size
    out = open(args.output, "w") if args.output else sys.stdout  # noqa: SIM115 (closed below)
    ok = failed = 0
    written: set[Path] = set()
    try:
        for path in args.images:
            try:
                image, scale = read_image_scaled(path)
            except DataError as e:
                if args.strict:
                    raise
                print(f"ferlite predict: skipped {e}", file=sys.stderr)
                failed += 1
                continue
            # Boxes and sizes in the file's own pixels, even when it was shrunk on reading.
            faces = rec.classify_crops([image]) if args.crops else rec.predict(image)
            width, height = round(image.shape[1] / scale), round(image.shape[0] / scale)
            out.write(
                json.dumps({"source": str(path), "width": width, "height": height, "faces": faces.scaled(1 / scale).to_dicts()})
                + "\n"
            )
            ok += 1
            if args.annotate:
                dest = _unused_name(Path(args.annotate), Path(path), written)
                dest.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(dest), annotate_faces(image.copy(), faces), [cv2.IMWRITE_JPEG_QUALITY, 92])
    finally:
        if args.output:
            out.close()
    if failed:
        print(f"ferlite predict: {ok} images done, {failed} skipped", file=sys.stderr)
    return 1 if ok == 0 else 0


# Annotated copies keep their input's format (a 1.6 MB JPEG became a 10.3 MB PNG); others become PNG.
ANNOTATED_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff"}


def _unused_name(folder: Path, source: Path, written: set[Path]) -> Path:
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
