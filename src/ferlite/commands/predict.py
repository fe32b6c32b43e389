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

from ..errors import DataError
from ..runtime import annotate_faces, read_image
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
    add_runtime_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    rec = build_recognizer(args)
    out = open(args.output, "w") if args.output else sys.stdout
    ok = failed = 0
    try:
        for path in args.images:
            try:
                image = read_image(path)
            except DataError as e:
                if args.strict:
                    raise
                print(f"ferlite predict: skipped {e}", file=sys.stderr)
                failed += 1
                continue
            faces = rec.predict(image)
            out.write(
                json.dumps({"image": str(path), "width": image.shape[1], "height": image.shape[0], "faces": faces.to_dicts()})
                + "\n"
            )
            ok += 1
            if args.annotate:
                dest = Path(args.annotate) / (Path(path).stem + "_ferlite.png")
                dest.parent.mkdir(parents=True, exist_ok=True)
                cv2.imwrite(str(dest), annotate_faces(image.copy(), faces))
    finally:
        if args.output:
            out.close()
    if failed:
        print(f"ferlite predict: {ok} images done, {failed} skipped", file=sys.stderr)
    return 1 if ok == 0 else 0
