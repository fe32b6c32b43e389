"""ONNX Runtime's thread count and spin-waiting in the video pipeline, before and after, in one paired run.

Each measurement is ``ferlite bench``'s own end-to-end worker (YuNet, alignment, the default int8 model, tracking,
frames decoded from the file as ``ferlite watch`` runs) in a fresh process; the trees alternate round by round, so
that drift of the machine's speed falls on both alike.

    python benchmarks/threads.py --before /path/to/old/checkout --rounds 3 \
        --before-label "spin-waiting on" --after-label "spin-waiting off"

History (docs/BENCHMARKS.md): on 2026-12-03 a first run found spinning faster and it was kept; a later paired run,
with the detector's networks kept per input size, found it slower, and it was turned off.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def pipeline_fps(tree: Path, threads: int, frames: int, video: str) -> float:
    job = {"kind": "pipeline", "model": "default", "video": video, "threads": threads, "frames": frames, "detect_every": 1}
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "FERLITE_NO_REEXEC": "1"}
    out = subprocess.run(
        [sys.executable, "-m", "ferlite", "bench", "--worker", json.dumps(job)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1])["fps"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--before", required=True, help="the checkout to compare against (e.g. a git worktree of main)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--frames", type=int, default=300)
    p.add_argument("--before-label", default="before", help="what the --before tree is, for the table")
    p.add_argument("--after-label", default="after (this tree)", help="what this tree is, for the table")
    args = p.parse_args()
    from ferlite.core.paths import find_shared
    from ferlite.core.system import cpu_model
    from ferlite.runtime import resolve_model_path

    video = str(find_shared("media/face1_emotions_pexels_640x480.mp4"))
    model = str(resolve_model_path("default"))
    configs = [(name, tree, t) for t in (1, 2) for name, tree in (("before", Path(args.before)), ("after", HERE))]
    fps: dict[tuple[str, int], list[float]] = {(n, t): [] for n, _, t in configs}
    for r in range(args.rounds):
        for name, tree, threads in configs:
            fps[(name, threads)].append(pipeline_fps(tree, threads, args.frames, video))
        print(f"round {r}: " + ", ".join(f"{n} {t} thr {v[-1]:.1f}" for (n, t), v in fps.items()), flush=True)
    print(
        f"\n{cpu_model()}, {os.cpu_count()} cores; {Path(model).name}; {Path(video).name}, {args.frames} frames, decoding included"
    )
    print("| ONNX Runtime | 1 thread, FPS (median of rounds) | 2 threads, FPS |")
    print("|---|---|---|")
    for name, label in (("before", args.before_label), ("after", args.after_label)):
        print(f"| {label} | {statistics.median(fps[(name, 1)]):.1f} | {statistics.median(fps[(name, 2)]):.1f} |")


if __name__ == "__main__":
    main()
