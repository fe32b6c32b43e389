"""``ferlite analyze PATHS... -o TABLE``: photos, folders and videos into one table (see ferlite.apps.analyze)."""

from __future__ import annotations

import argparse
import functools
import os
import sys

from ..apps.analyze import (
    TABLE_FORMATS,
    check_table_output,
    expand_inputs,
    iter_rows,
    iter_rows_parallel,
    table_columns,
    write_table,
)
from ..core.errors import UsageError
from ..core.options import positive_int
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
    p.add_argument(
        "--engine",
        default="local",
        choices=("local", "ray"),
        help="local: this machine, a process per core for many files (default); ray: a Ray cluster through Ray Data "
        '(pip install "ferlite[scale]")',
    )
    p.add_argument(
        "--workers",
        type=positive_int,
        default=None,
        help="processes (local) or actors (ray), one Recognizer and one thread each (default: one per core, at most one "
        "per file, for the local engine; the cluster's CPUs for ray)",
    )
    p.add_argument(
        "--address", default=None, help="with --engine ray: a running cluster, auto or HOST:PORT (default: start Ray here)"
    )
    add_runtime_args(p)
    return p


def main(args: argparse.Namespace) -> int:
    check_table_output(args.output)  # before any model loads or file is read
    if args.address and args.engine != "ray":
        raise UsageError("--address is for --engine ray")
    files = expand_inputs(args.paths)
    rec = build_recognizer(args)  # also checks the model and the options here, before any worker starts
    columns = table_columns(rec.labels)
    progress = not args.no_progress
    workers = args.workers or min(os.cpu_count() or 1, len(files))
    # Each worker gets its own Recognizer with one thread (unless told): the workers are the parallelism.
    make_recognizer = functools.partial(build_recognizer, argparse.Namespace(**{**vars(args), "threads": args.threads or 1}))
    if args.engine == "ray":
        from ..apps.analyze_ray import iter_chunks_ray, rows_of_chunks

        chunks = iter_chunks_ray(files, make_recognizer, columns, args.workers, args.address, args.strict)
        n = write_table(rows_of_chunks(chunks), args.output, columns)
    elif workers > 1:
        rows = iter_rows_parallel(files, make_recognizer, workers, progress, args.strict)
        n = write_table(rows, args.output, columns)
    else:
        n = write_table(iter_rows(files, rec, progress=progress, strict=args.strict), args.output, columns)
    print(f"ferlite analyze: {n} rows written to {args.output}", file=sys.stderr)
    return 0 if n else 1
