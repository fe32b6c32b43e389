"""``ferlite predict IMAGES...``: faces and emotions of still images, as JSON lines.

Each image gives one JSON object on stdout. An unreadable image is reported on stderr
by name and skipped (``--strict`` stops instead); the exit status is 1 when no image
could be read at all.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from ..apps.photos import predict_photos, say_on_stderr
from ..core.errors import UsageError
from ..core.options import positive_int
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
    with open(args.output, "w") if args.output else contextlib.nullcontext(sys.stdout) as out:
        done = predict_photos(rec, args.images, out, annotate=args.annotate, crops=args.crops, strict=args.strict)
    if done.skipped:
        say_on_stderr(f"{done.read} images done, {done.skipped} skipped")
    return 1 if done.read == 0 else 0
