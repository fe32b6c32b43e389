"""ferlite analyze at scale: faces/s against workers, for the local process pool and for Ray, on this machine and on
a two-node Ray cluster started on localhost; and the Ray workers' memory over a long video.

    python benchmarks/scale.py [--write docs/BENCHMARKS.md]

Inputs: the four shared face videos (1,555 frames) and the bundled photo, one thread per worker. Every run is one
``ferlite analyze`` command, timed from start to end (Ray's start-up included: it is what a user waits for).
The two-node cluster is ``ray start --head --num-cpus 1`` and ``ray start --address HEAD --num-cpus 1`` on this
machine, joined with ``--address auto``. The long video is the one-face clip four times over (1,888 frames); the
memory is the summed resident size of Ray's worker processes (``ray::*``), sampled twice a second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2

from ferlite.core.paths import find_shared
from ferlite.core.system import machine_summary
from ferlite.evaluation.reporting import write_block

VIDEOS = (
    "media/face1_emotions_pexels_640x480.mp4",
    "media/faces_multi_event_ccby_640x480.mp4",
    "media/faces_multi_hikers_ccby_640x480.mp4",
    "media/face1_emotions_pexels_640x360.mp4",
)
FERLITE = [sys.executable, "-m", "ferlite"]
ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "2147483647", "MALLOC_TRIM_THRESHOLD_": "100000000000"}


def ray_workers_rss_mb() -> float:
    """Summed resident memory of the processes whose command line starts with ``ray::`` (Ray's workers)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if not Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"ray::"):
                continue
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def run(args: list[str], sample: bool = False) -> tuple[float, int, list[tuple[float, float]]]:
    """Seconds, rows written and (time, Ray worker MB) samples of one ferlite analyze command."""
    samples: list[tuple[float, float]] = []
    done = threading.Event()
    start = time.perf_counter()

    def sampler():
        while not done.wait(0.5):
            samples.append((time.perf_counter() - start, ray_workers_rss_mb()))

    thread = threading.Thread(target=sampler, daemon=True)
    if sample:
        thread.start()
    proc = subprocess.run([*FERLITE, "analyze", *args, "--no-progress"], capture_output=True, text=True, env=ENV)
    seconds = time.perf_counter() - start
    done.set()
    if proc.returncode != 0:
        sys.exit(f"failed: {' '.join(args)}\n{proc.stderr[-2000:]}")
    rows = int(proc.stderr.strip().splitlines()[-1].split()[2])
    return seconds, rows, samples


def faces_in(table: Path) -> int:
    import pandas as pd

    return int(pd.read_parquet(table).face.notna().sum())


def long_video(path: Path, times: int = 4) -> Path:
    writer = None
    for _ in range(times):
        cap = cv2.VideoCapture(str(find_shared(VIDEOS[0])))
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if writer is None:
                writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, frame.shape[1::-1])
            writer.write(frame)
    writer.release()
    return path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--write", default=None, help="also write the tables into this Markdown file's 'scale' block")
    args = p.parse_args()
    inputs = [str(find_shared(v)) for v in VIDEOS] + ["src/ferlite/assets/astronaut_nasa_256.jpg"]
    tmp = Path(tempfile.mkdtemp(prefix="ferlite_scale_"))
    lines = [
        f"`python benchmarks/scale.py` on {machine_summary()['cpu']} ({os.cpu_count()} cores): `ferlite analyze` of the four "
        "shared videos (1,555 frames) and one photo, wall time including start-up, one thread per worker.",
        "",
        "| engine | workers | seconds | faces/s |",
        "|---|---|---|---|",
    ]
    configs = [
        ("local, one process", ["--workers", "1"]),
        ("local, process pool", ["--workers", "2"]),
        ("Ray Data, started here", ["--engine", "ray", "--workers", "1"]),
        ("Ray Data, started here", ["--engine", "ray", "--workers", "2"]),
    ]
    for name, extra in configs:
        out = tmp / f"{len(lines)}.parquet"
        seconds, _, _ = run([*inputs, "-o", str(out), *extra])
        n = faces_in(out)
        lines.append(f"| {name} | {extra[-1]} | {seconds:.1f} | {n / seconds:.1f} |")
        print(lines[-1], flush=True)
    # Two Ray nodes on this machine, one CPU each.
    head = subprocess.run(
        ["ray", "start", "--head", "--num-cpus", "1", "--include-dashboard", "false", "--port", "6390"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    if head.returncode != 0:
        sys.exit(head.stderr[-2000:])
    try:
        node = subprocess.run(
            ["ray", "start", "--address", "127.0.0.1:6390", "--num-cpus", "1"], capture_output=True, text=True, env=ENV
        )
        if node.returncode != 0:
            sys.exit(node.stderr[-2000:])
        out = tmp / "cluster.parquet"
        seconds, _, _ = run([*inputs, "-o", str(out), "--engine", "ray", "--address", "127.0.0.1:6390"])
        lines.append(
            f"| Ray Data, two-node cluster on localhost (`ray start`), 1 CPU per node | 2 | {seconds:.1f} | {faces_in(out) / seconds:.1f} |"
        )
        print(lines[-1], flush=True)
    finally:
        subprocess.run(["ray", "stop", "--force"], capture_output=True, env=ENV)
    video = long_video(tmp / "long.avi")
    seconds, rows, samples = run([str(video), "-o", str(tmp / "long.parquet"), "--engine", "ray", "--workers", "1"], sample=True)
    busy = [(t, mb) for t, mb in samples if mb > 0]
    quarters = []
    for q in (0.25, 0.5, 0.75, 1.0):
        window = [mb for t, mb in busy if t <= q * seconds]
        quarters.append(f"{max(window):.0f}" if window else "-")
    lines += [
        "",
        f"A long video ({rows} rows, {seconds:.0f} s on one Ray actor): peak resident memory of Ray's worker processes "
        f"up to 25%, 50%, 75% and 100% of the run: {' / '.join(quarters)} MB (rows leave the actor in chunks of 512 and "
        "the driver writes them as they come).",
    ]
    print(lines[-1])
    if args.write:
        write_block(args.write, "scale", "## ferlite analyze at scale\n\n" + "\n".join(lines))
        print(f"written to {args.write}")


if __name__ == "__main__":
    main()
