"""``ferlite analyze PATHS... -o TABLE``: photos, folders and videos into one table (see ferlite.apps.analyze)."""

from __future__ import annotations

import argparse
import sys

from ..apps.analyze import TABLE_FORMATS, iter_rows, table_columns, write_table
from ..core.errors import UsageError
from ._common import add_runtime_args, build_recognizer


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite analyze",
        description="Detect faces and recognise their emotions in photos, folders (recursive), glob patterns and videos, "
        "and write one table: a row per face (per face and frame for videos; frames without a face kept as rows with "
        "empty face columns), with source, frame, time, box, confidence, track id, label, every class score, the model "
        "and ferlite's version. Unreadable files are named on stderr and skipped.",
        add_help=add_help,
    )
    p.add_argument("paths", nargs="+", help="image or video files, folders, or glob patterns (quote them)")
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="TABLE",
        help=f"the table; its extension picks the format: {', '.join(TABLE_FORMATS)} (Parquet needs pyarrow)",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first unreadable file")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_runtime_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    if not str(args.output).lower().endswith(TABLE_FORMATS):  # before any model loads or file is read
        raise UsageError(f"{args.output}: unknown table format; use one of {', '.join(TABLE_FORMATS)}")
    rec = build_recognizer(args)
    rows = iter_rows(args.paths, rec, progress=not args.no_progress, strict=args.strict)
    n = write_table(rows, args.output, table_columns(rec.labels))
    print(f"ferlite analyze: {n} rows written to {args.output}", file=sys.stderr)
    return 0 if n else 1
