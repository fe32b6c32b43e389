"""Photos, folders and videos into one table: a row per face (per frame for videos), every class score.

The job users bring first: "run it over my files and give me a spreadsheet". Inputs are files, folders (searched
recursively), glob patterns and videos; the table has one row per face, and for videos one row per face per frame,
with frames that show no face kept as rows with empty face columns, so that time series stay complete.

Columns (:mod:`ferlite.core.vocabulary`): ``source, frame, time_s, face, x1, y1, x2, y2, confidence, tracker_id,
label``, one column per class score, ``model``, ``ferlite_version``. Boxes are in each file's own pixels.

The output format follows the file's extension: ``.csv``, ``.jsonl`` (JSON Lines), ``.json`` (one JSON array) or
``.parquet`` (pyarrow, with integer ``frame``, ``face`` and ``tracker_id``). Any other extension is an error, never a
silent other format, and every output's needs are checked before the first file is read.

Example::

    ferlite analyze photos/ clips/*.mp4 -o emotions.csv
    from ferlite.apps.analyze import analyze
    df = analyze(["photos/", "clip.mp4"])        # a pandas DataFrame (pandas: pip install "ferlite[apps]")
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataError, UsageError, stderr_reporter
from ..core.vocabulary import FACE_FIELDS, WHERE_FIELDS
from ..runtime.image import IMAGE_SUFFIXES
from ..runtime.recognizer import Recognizer
from ..runtime.video import FrameSource

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".y4m"}
TABLE_FORMATS = (".csv", ".jsonl", ".json", ".parquet")
# Rows gathered into one Parquet row group, or one chunk handed back by a Ray actor.
ROWS_PER_CHUNK = 512


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files, folders (recursive) and glob patterns -> the image and video files they name, sorted per argument.

    A folder contributes its images and videos; a name that matches nothing is a UsageError naming it.

    Example:
        >>> expand_inputs(["photos/", "clips/*.mp4"])  # doctest: +SKIP
        [PosixPath('photos/a.jpg'), PosixPath('photos/sub/b.png'), PosixPath('clips/x.mp4')]
    """
    out: list[Path] = []
    for arg in paths:
        p = Path(arg)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if _is_input(f) and f.suffix.lower() in IMAGE_SUFFIXES | VIDEO_SUFFIXES)
        elif _is_input(p):
            found = [p]
        else:
            found = sorted(Path(f) for f in glob.glob(str(arg), recursive=True) if _is_input(Path(f)))
        if not found:
            raise UsageError(f"{arg}: no such file, folder or matching files")
        out += found
    return out


def _is_input(path: Path) -> bool:
    """A file, or a broken symbolic link: that is kept so that reading it names it and counts it as skipped."""
    return path.is_file() or (path.is_symlink() and not path.exists())


def face_rows(source: str, frame: int, time_s: float | None, faces, labels: Sequence[str], meta: dict) -> list[dict]:
    """The table rows of one image or frame: a row per face, or one row with empty face columns when there is none."""
    base = {"source": source, "frame": frame, "time_s": None if time_s is None else round(time_s, 4)}
    if len(faces) == 0:
        return [{**base, **dict.fromkeys(FACE_FIELDS), **dict.fromkeys(labels), **meta}]
    rows = []
    for d, scores in zip(faces.to_dicts(), faces.scores):
        row = {**base, **{k: d.get(k) for k in FACE_FIELDS}}
        row.update({c: round(float(v), 5) for c, v in zip(labels, scores)})
        rows.append({**row, **meta})
    return rows


def iter_rows(
    paths: Iterable[str | Path],
    recognizer: Recognizer | None = None,
    progress: bool = True,
    strict: bool = False,
    on_skip: Callable[[Path, DataError], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The table's rows, one input at a time (see the module docstring); an unreadable input is handed to
    ``on_skip`` (default: a warning on stderr) and skipped, or raises under ``strict``."""
    from tqdm import tqdm

    rec = recognizer or Recognizer()
    for path in tqdm(expand_inputs(paths), unit="file", disable=not progress, dynamic_ncols=True):
        yield from rows_of_file(path, rec, progress, strict, on_skip)


def warn_skipped(path: Path, error: DataError) -> None:
    stderr_reporter("analyze")(f"skipped {error}")


def rows_of_file(
    path: Path,
    rec: Recognizer,
    progress: bool = False,
    strict: bool = False,
    on_skip: Callable[[Path, DataError], None] | None = None,
) -> Iterator[dict[str, Any]]:
    """The rows of one photo or video: the unit of work of every engine (a video is never split, so that its track
    ids and smoothed scores are those of one pass over all of its frames)."""
    from tqdm import tqdm

    from .. import __version__

    meta = {"model": rec.classifier.model_path.name, "ferlite_version": __version__}
    try:
        if path.suffix.lower() in VIDEO_SUFFIXES:
            source = FrameSource(path)
            stream = rec.new_stream()
            with tqdm(total=source.info.total_frames, unit="frame", leave=False, disable=not progress) as bar:
                for index, _, faces in stream.run(source):
                    bar.update(1)
                    yield from face_rows(str(path), index, source.time_of(index), faces, rec.labels, meta)
        else:
            # Recognizer.predict reads the file and gives boxes in its own pixels.
            yield from face_rows(str(path), 0, None, rec.predict(path), rec.labels, meta)
    except DataError as e:
        if strict:
            raise
        (on_skip or warn_skipped)(path, e)


def _rows_in_worker(path: Path) -> list[dict[str, Any]]:
    return list(rows_of_file(path, _WORKER["recognizer"], False, _WORKER["strict"]))


_WORKER: dict[str, Any] = {}


def _start_worker(make_recognizer: Callable[[], Recognizer], strict: bool) -> None:
    _WORKER.update(recognizer=make_recognizer(), strict=strict)


def iter_rows_parallel(
    paths: Iterable[str | Path],
    make_recognizer: Callable[[], Recognizer],
    workers: int,
    progress: bool = True,
    strict: bool = False,
) -> Iterator[dict[str, Any]]:
    """:func:`iter_rows` over a pool of ``workers`` processes, one Recognizer each, a file per task; the rows come
    in the inputs' order. ``make_recognizer`` must be picklable (e.g. ``functools.partial(Recognizer, threads=1)``).
    A video's rows are gathered in its worker before they are passed on, so that many files, not one long video,
    are what this speeds up."""
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    files = expand_inputs(paths)
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=(make_recognizer, strict)) as pool:
        for rows in tqdm(pool.map(_rows_in_worker, files), total=len(files), unit="file", disable=not progress):
            yield from rows


def check_table_output(out: str | Path) -> Path:
    """Check, before any file is read, that ``out`` names a table format that can be written here.

    Raises:
        UsageError: for an extension that is not a known table format (naming the ones that are), a folder, or
            Parquet without pyarrow.
    """
    out = Path(out)
    kind = out.suffix.lower()
    if kind not in TABLE_FORMATS:
        raise UsageError(f"{out}: unknown table format {kind or '(no extension)'!r}; use one of {', '.join(TABLE_FORMATS)}")
    if out.is_dir():
        raise UsageError(f"{out}: is a folder; name the table file")
    if kind == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError(f'{out}: Parquet needs pyarrow: pip install pyarrow (or "ferlite[apps]"), or write .csv') from None
    return out


def arrow_schema(columns: Sequence[str]):
    """The table's Arrow schema: integer frame, face and track ids (null where a frame has no face), text names and
    floating-point times, boxes and scores, whichever chunk a column's first value is in."""
    import pyarrow as pa

    ints = {"frame", "face", "tracker_id"}
    strings = {"source", "label", "model", "ferlite_version"}
    return pa.schema([(c, pa.int64() if c in ints else pa.string() if c in strings else pa.float64()) for c in columns])


def write_table(rows: Iterable[dict[str, Any]], out: str | Path, columns: Sequence[str]) -> int:
    """Stream rows into the format ``out``'s extension names; returns the row count.

    The table is written beside ``out`` under a temporary name and renamed over it at the end, so that an
    interrupted run never leaves a partial table in place of an earlier one.

    Raises:
        UsageError: see :func:`check_table_output`.
    """
    out = check_table_output(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    try:
        n = _write_rows(rows, partial, out.suffix.lower(), columns)
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return n


def _write_rows(rows: Iterable[dict[str, Any]], path: Path, kind: str, columns: Sequence[str]) -> int:
    n = 0
    if kind == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = arrow_schema(columns)
        with pq.ParquetWriter(path, schema) as writer:
            for chunk in _chunks(rows, ROWS_PER_CHUNK):
                writer.write_table(pa.Table.from_pylist(chunk, schema=schema))
                n += len(chunk)
        return n
    with open(path, "w", newline="") as f:
        if kind == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(columns))
            writer.writeheader()
        elif kind == ".json":
            f.write("[")
        for row in rows:
            if kind == ".csv":
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
            elif kind == ".jsonl":
                f.write(json.dumps(row) + "\n")
            else:
                f.write(("\n" if n == 0 else ",\n") + json.dumps(row))
            n += 1
        if kind == ".json":
            f.write("\n]\n")
    return n


def _chunks(rows: Iterable[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def table_columns(labels: Sequence[str]) -> list[str]:
    return [*WHERE_FIELDS, *FACE_FIELDS, *labels, "model", "ferlite_version"]


def _pandas():
    try:
        import pandas as pd
    except ImportError:
        raise UsageError('a DataFrame needs pandas: pip install "ferlite[apps]"') from None
    return pd


def _frame(rows: list[dict], columns: Sequence[str]):
    df = _pandas().DataFrame(rows, columns=list(columns))
    return df.astype(
        {
            **{c: "float64" for c in ("time_s", "x1", "y1", "x2", "y2", "confidence")},
            **{c: "Int64" for c in ("frame", "face", "tracker_id")},  # integers with room for a faceless frame's null
        }
    )


def analyze(
    paths: Sequence[str | Path] | str | Path,
    model: str | Path | None = None,
    threads: int | None = None,
    progress: bool = False,
    strict: bool = False,
):
    """The table of faces and emotions in photos, folders and videos, as a pandas DataFrame.

    Example:
        >>> df = analyze(["photos/", "clip.mp4"])  # doctest: +SKIP
        >>> df.groupby("source").label.value_counts()  # doctest: +SKIP
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    _pandas()  # before the work, not after it
    rec = Recognizer(model, threads=threads)
    rows = list(iter_rows(paths, rec, progress, strict))
    return _frame(rows, table_columns(rec.labels))
