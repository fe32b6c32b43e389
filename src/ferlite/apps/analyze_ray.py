"""``ferlite analyze --engine ray``: the local engine's table, computed on a Ray cluster through Ray Data.

The inputs are listed on the driver and become a Ray dataset of file paths. An actor pool, one Recognizer per actor
and one CPU each, sized to the cluster's CPUs unless told, maps each file to its rows with the local engine's own
code (:func:`ferlite.apps.analyze.rows_of_file`), yielding them in chunks, so that a long video streams through in
constant memory. The driver writes the chunks' rows, in the inputs' order, into one table of any of the local
engine's formats.

A video is one unit of work and is never cut into frame ranges: its track ids and smoothed scores come from one pass
over all of its frames, and frame-range shards would restart both at every cut (other ids, other scores from the
local engine's). Many files spread over the cluster; one long video runs on one actor.

Example::

    ferlite analyze clips/ --engine ray -o emotions.parquet                   # Ray started on this machine
    ferlite analyze clips/ --engine ray --address auto -o emotions.csv        # a running cluster (ray start)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..core.errors import DataError, UsageError
from ..runtime.recognizer import Recognizer
from .analyze import ROWS_PER_CHUNK, expand_inputs, rows_of_file


class AnalyzeActor:
    """A Ray Data actor: a Recognizer built once, then the rows of each file it is given, in chunks."""

    def __init__(self, make_recognizer: Callable[[], Recognizer], columns: Sequence[str], strict: bool) -> None:
        self.recognizer, self.columns, self.strict = make_recognizer(), list(columns), strict

    def __call__(self, batch: dict[str, Any]) -> Iterator[dict[str, list]]:
        for path in batch["path"]:
            chunk: list[dict[str, Any]] = []
            for row in rows_of_file(Path(str(path)), self.recognizer, False, self.strict):
                chunk.append(row)
                if len(chunk) == ROWS_PER_CHUNK:
                    yield self._as_columns(chunk)
                    chunk = []
            if chunk:
                yield self._as_columns(chunk)

    def _as_columns(self, rows: list[dict[str, Any]]) -> dict[str, list]:
        return {c: [r[c] for r in rows] for c in self.columns}


def iter_chunks_ray(
    paths: Iterable[str | Path],
    make_recognizer: Callable[[], Recognizer],
    columns: Sequence[str],
    workers: int | None = None,
    address: str | None = None,
    strict: bool = False,
) -> Iterator[dict[str, list]]:
    """The table's rows as column chunks, computed by Ray Data (see the module docstring), in the inputs' order.

    ``address``: a running cluster (``"auto"`` or ``HOST:PORT``); None starts Ray on this machine for the call.
    ``workers``: actors (default: the cluster's CPUs).
    """
    try:
        import ray
    except ImportError:
        raise UsageError('--engine ray needs Ray: pip install "ferlite[scale]"') from None
    files = expand_inputs(paths)
    started_here = not ray.is_initialized()
    if started_here:
        try:
            ray.init(address=address, include_dashboard=False, log_to_driver=True, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as e:
            raise UsageError(f"--address {address}: cannot join the Ray cluster ({str(e).splitlines()[0]})") from None
    try:
        size = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True  # the local engine's row order
        context.enable_progress_bars = False
        dataset = ray.data.from_items([{"path": str(f)} for f in files], override_num_blocks=max(1, len(files)))
        dataset = dataset.map_batches(
            AnalyzeActor,
            fn_constructor_args=(make_recognizer, list(columns), strict),
            batch_size=1,
            batch_format="numpy",
            concurrency=size,
            num_cpus=1,
        )
        try:
            for batch in dataset.iter_batches(batch_size=None, batch_format="pyarrow"):
                yield batch.to_pydict()
        except ray.exceptions.RayError as e:  # an actor's error (e.g. --strict on an unreadable file), in one line
            last = [ln.strip() for ln in str(e).splitlines() if ln.strip()][-1]
            raise DataError(f"the Ray job stopped: {last}") from None
    finally:
        if started_here:
            ray.shutdown()


def rows_of_chunks(chunks: Iterable[dict[str, list]]) -> Iterator[dict[str, Any]]:
    """The rows of column chunks, for :func:`ferlite.apps.analyze.write_table` (any of its formats)."""
    for chunk in chunks:
        names = list(chunk)
        for values in zip(*(chunk[c] for c in names)):
            yield dict(zip(names, values))
