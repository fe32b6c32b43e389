"""``ferlite bench``: classifier latency and throughput (fp32, int8) and end-to-end FPS (:mod:`ferlite.evaluation.bench`)."""

from __future__ import annotations

import argparse
import sys

from ..core.options import positive_int
from ..core.spec import TTA_MODES
from ..evaluation.bench import BenchSettings, run_bench, write_markdown
from ..runtime.engines import BACKENDS


def get_args_parser(add_help: bool = True) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ferlite bench",
        description="Measure the emotion classifier's latency at batch 1 and throughput when batched (fp32 and int8), "
        "and end-to-end FPS (detect + align + classify + track) on a real 640x480 video. One process per measurement.",
        add_help=add_help,
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        metavar="ONNX",
        help="classifier model(s) to time, a path or a bundled model's name (default, accurate, fer2013); repeat for "
        "several (default: the bundled default)",
    )
    p.add_argument("--detector", default="yunet", choices=("yunet", "haar", "ssd"), help="face detector of the end-to-end runs")
    p.add_argument(
        "--ssd-model",
        nargs=2,
        metavar=("PB", "PBTXT"),
        default=None,
        help="res10 SSD files for --detector ssd (default: the shared weights folder)",
    )
    p.add_argument("--video", default=None, help="video for the end-to-end FPS (default: the shared one-face 640x480 clip)")
    p.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="ONNX Runtime threads (default: all cores for the classifier rows, the pipeline's own 1 end to end)",
    )
    p.add_argument(
        "--backend",
        default=None,
        choices=BACKENDS,
        help="the emotion model's engine (default: onnxruntime if installed, else opencv)",
    )
    p.add_argument("--batch", type=int, default=64, help="batch size for throughput (default 64)")
    p.add_argument("--frames", type=int, default=300, help="frames for the end-to-end run (default 300)")
    p.add_argument("--detect-every", type=positive_int, default=3, help="also time detection on every n-th frame (default 3)")
    p.add_argument("--runs", type=int, default=200, help="timed calls per latency measurement (default 200)")
    p.add_argument(
        "--tta",
        action="append",
        default=[],
        choices=TTA_MODES[1:],
        help="also time every model with this test-time augmentation (flip, shift-flip); repeat for both",
    )
    p.add_argument("--write", default=None, metavar="MD", help="write the results as Markdown (e.g. docs/BENCHMARKS.md)")
    return p


def main(args: argparse.Namespace) -> int:
    settings = BenchSettings(
        models=args.model or ["default"],
        video=args.video,
        detector=args.detector,
        ssd_model=args.ssd_model,
        threads=args.threads,
        backend=args.backend,
        batch=args.batch,
        frames=args.frames,
        detect_every=args.detect_every,
        runs=args.runs,
        tta=tuple(args.tta),
    )
    results = run_bench(settings, say=lambda line: print(line, flush=True))
    if args.write:
        write_markdown(results, args.write, command=" ".join(["ferlite bench", *sys.argv[2:]]))
        print(f"wrote {args.write}")
    return 0
