"""``ferlite bench``: classifier latency and throughput (fp32, int8) and end-to-end FPS.

Each measurement runs in its own process, so that one ONNX Runtime session's thread
pool never competes with another's. Results print as a table and can be written to
docs/BENCHMARKS.md with the machine described.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from ..core.options import positive_int
from ..core.paths import find_shared
from ..core.spec import TTA_MODES
from ..core.system import machine_summary
from ..evaluation.reporting import write_block
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
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    return p


def machine_description(threads: dict[str, int]) -> dict[str, Any]:
    """The machine and versions, and the ONNX Runtime threads of the classifier rows and of the pipeline rows."""
    import cv2

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = "not installed"
    return {**machine_summary(), "threads": threads, "onnxruntime": ort_version, "opencv": cv2.__version__}


def _classifier_worker(
    model: str, threads: int, batch: int, runs: int, tta: str = "none", backend: str | None = None
) -> dict[str, Any]:
    from ..runtime.classifier import EmotionClassifier, time_inference

    clf = EmotionClassifier(model, threads=threads, tta=tta, backend=backend)
    lat = time_inference(clf, 1, runs, warmup=20)
    batched = time_inference(clf, batch, max(5, runs // 10), warmup=3)
    return {
        "model": model,
        "tta": tta,
        "backend": clf.backend,
        "bytes": Path(model).stat().st_size,
        "input_size": clf.spec.input_size,
        "latency_ms_b1": 1000 * float(np.median(lat)),
        "latency_ms_b1_p90": 1000 * float(np.percentile(lat, 90)),
        "faces_per_s_batched": batch * len(batched) / float(batched.sum()),
        "batch": batch,
    }


def _pipeline_worker(
    model: str,
    video: str,
    threads: int,
    frames: int,
    detect_every: int,
    tta: str = "none",
    full_scan_every: int | None = None,
    detector: str = "yunet",
    ssd_model: list[str] | None = None,
    backend: str | None = None,
) -> dict[str, Any]:
    from itertools import islice

    from ..runtime import FrameSource, Recognizer
    from ..runtime.recognizer import FULL_SCAN_EVERY
    from ._common import build_detector

    decoded = []
    t = time.perf_counter()
    for _, frame in islice(FrameSource(video), frames):
        decoded.append(frame)
    decode_s = time.perf_counter() - t
    full_scan_every = full_scan_every or FULL_SCAN_EVERY
    rec = Recognizer(
        model,
        detector=build_detector(detector, ssd_model),
        threads=threads,
        detect_every=detect_every,
        tta=tta,
        full_scan_every=full_scan_every,
        backend=backend,
    )
    for frame in decoded[:10]:  # warm-up
        rec.update(frame)
    # As `ferlite watch` runs: each frame decoded from the file, then processed (the headline figure).
    rec.reset()
    faces, n, t = 0, 0, time.perf_counter()
    for _, frame in islice(FrameSource(video), frames):
        faces += len(rec.update(frame))
        n += 1
    dt = time.perf_counter() - t
    # The same frames decoded beforehand: the cost of ferlite's own stages alone.
    rec.reset()
    t = time.perf_counter()
    for frame in decoded:
        rec.update(frame)
    dt_decoded = time.perf_counter() - t
    h, w = decoded[0].shape[:2]
    return {
        "model": model,
        "video": video,
        "frames": n,
        "size": f"{w}x{h}",
        "detect_every": detect_every,
        "full_scan_every": full_scan_every,
        "tta": tta,
        "faces_per_frame": faces / n,
        "fps": n / dt,
        "ms_per_frame": 1000 * dt / n,
        "fps_decoded_beforehand": len(decoded) / dt_decoded,
        "decode_fps": len(decoded) / decode_s,
    }


def _model_name(r: dict[str, Any]) -> str:
    backend = f" [{r['backend']}]" if r.get("backend") == "opencv" else ""
    return Path(r["model"]).name + (f" ({r['tta']} TTA)" if r["tta"] != "none" else "") + backend


def _run_worker(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "ferlite", "bench", "--worker", json.dumps({"kind": kind, **payload})]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main(args: argparse.Namespace) -> int:
    if args.worker:
        job = json.loads(args.worker)
        kind = job.pop("kind")
        result = _classifier_worker(**job) if kind == "classifier" else _pipeline_worker(**job)
        print(json.dumps(result))
        return 0
    from ..runtime import resolve_model_path
    from ._common import build_detector

    build_detector(args.detector, args.ssd_model)  # a missing SSD file is one line, before any timing starts
    threads = args.threads or os.cpu_count() or 1
    from ..runtime.recognizer import VIDEO_THREADS

    # The pipeline as users get it: the Recognizer's own classifier threads unless --threads says otherwise.
    pipeline_threads = args.threads or VIDEO_THREADS
    models = [str(resolve_model_path(m)) for m in args.model or [None]]
    video = args.video
    if video is None:
        try:
            video = str(find_shared("media/face1_emotions_pexels_640x480.mp4"))
        except FileNotFoundError:  # a plain pip install has no shared folder: time a clip made from the bundled photo
            video = str(synthetic_clip(Path(tempfile.mkdtemp(prefix="ferlite-bench-")) / "bundled_photo_640x480.avi"))
            print(f"no shared clip found: timing {Path(video).name}, made from the bundled NASA photo (--video for yours)")
    results: dict[str, Any] = {
        "machine": machine_description({"classifier": threads, "pipeline": pipeline_threads}),
        "classifier": [],
        "pipeline": None,
    }
    tta_options = ("none", *dict.fromkeys(args.tta))
    for model, tta in [(m, t) for m in models for t in tta_options]:
        r = _run_worker(
            "classifier",
            {
                "model": str(model),
                "threads": threads,
                "batch": args.batch,
                "runs": args.runs,
                "tta": tta,
                "backend": args.backend,
            },
        )
        results["classifier"].append(r)
        print(
            f"{_model_name(r)}: {r['latency_ms_b1']:.3f} ms/face at batch 1 (p90 {r['latency_ms_b1_p90']:.3f}), "
            f"{r['faces_per_s_batched']:.0f} faces/s at batch {r['batch']}, {r['bytes'] / 1e6:.2f} MB, {threads} threads",
            flush=True,
        )
    results["pipeline"] = []
    # Every frame detected: each full frame (the way ferlite did it before region detection), then the default
    # (the whole frame every few frames, regions around the tracked faces between); then every n-th frame.
    runs = [(m, 1, t, 1) for m in models for t in tta_options] + [
        (m, e, t, None) for m in models for e in sorted({1, args.detect_every}) for t in tta_options
    ]
    for model, every, tta, full in runs:
        r = _run_worker(
            "pipeline",
            {
                "model": model,
                "video": video,
                "threads": pipeline_threads,
                "frames": args.frames,
                "detect_every": every,
                "tta": tta,
                "full_scan_every": full,
                "detector": args.detector,
                "ssd_model": args.ssd_model,
                "backend": args.backend,
            },
        )
        results["pipeline"].append(r)
        print(
            f"{Path(model).name}: end to end ({args.detector} every {every} frame(s), whole frame every {r['full_scan_every']} + align + classify{f' with {tta} TTA' if tta != 'none' else ''} + track) on {Path(video).name} {r['size']}: {r['fps']:.1f} FPS "
            f"({r['ms_per_frame']:.2f} ms/frame, {r['faces_per_frame']:.2f} faces/frame, {r['frames']} frames, {pipeline_threads} thread(s)); "
            f"{r['fps_decoded_beforehand']:.1f} FPS with the frames decoded beforehand; decoding alone {r['decode_fps']:.0f} FPS",
            flush=True,
        )
    if args.write:
        write_markdown(results, args, Path(args.write))
        print(f"wrote {args.write}")
    return 0


def write_markdown(results: dict[str, Any], args: argparse.Namespace, path: Path) -> None:
    from ..runtime.recognizer import ROI_SIDE

    m = results["machine"]
    cmd = "ferlite bench " + " ".join(a for a in sys.argv[2:] if not a.startswith("--worker"))
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{cmd.strip()}`; do not edit this block by hand.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; ONNX Runtime threads: {m['threads']['classifier']} for the "
        f"classifier rows, {m['threads']['pipeline']} in the end-to-end rows; {m['os']}; "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}, OpenCV {m['opencv']}. Each row ran in its own process.",
        "",
        "## Emotion classifier",
        "",
        f"| model | input | size | latency, batch 1 (median / p90) | throughput, batch {args.batch} |",
        "|---|---|---|---|---|",
    ]
    for r in results["classifier"]:
        lines.append(
            f"| {_model_name(r)} | {r['input_size']}px | {r['bytes'] / 1e6:.2f} MB | {r['latency_ms_b1']:.3f} / {r['latency_ms_b1_p90']:.3f} ms "
            f"| {r['faces_per_s_batched']:.0f} faces/s |"
        )
    lines += [
        "",
        "## End to end",
        "",
        "YuNet detection on every frame or every n-th frame with the tracked boxes reused in between: on the whole "
        'frame (shrunk to 320 px on its long side) every "whole frame every" detections, and in between only in a '
        "region around each tracked face (at "
        + str(ROI_SIDE)
        + " px); eye alignment, batched classification on every frame, and "
        'tracking with smoothing. "whole frame every 1" is detection as ferlite did it before regions. '
        "FPS and ms/frame include decoding each frame from the file (on a second thread, a few frames ahead), as "
        "`ferlite watch` runs; the same frames decoded "
        "beforehand, and decoding alone, are given beside.",
        "",
        "| model | video | detect every | whole frame every | TTA | frames | faces/frame | FPS | ms/frame | FPS, decoded beforehand | decoding alone |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in results["pipeline"]:
        lines.append(
            f"| {Path(p['model']).name} | {Path(p['video']).name} ({p['size']}) | {p['detect_every']} | {p['full_scan_every']} | {p['tta']} | {p['frames']} | {p['faces_per_frame']:.2f} | {p['fps']:.1f} "
            f"| {p['ms_per_frame']:.2f} | {p['fps_decoded_beforehand']:.1f} | {p['decode_fps']:.0f} FPS |"
        )
    write_block(path, "bench", "\n".join(lines))


def synthetic_clip(path: Path, frames: int = 300) -> Path:
    """A 640x480 clip of the bundled public-domain face photo drifting over a gray background (MJPEG), so that the
    end-to-end bench runs from a plain install without any video file."""
    import cv2
    import numpy as np

    from ..core.paths import asset_path
    from ..runtime import VideoInfo, VideoSink

    face = cv2.resize(cv2.imread(str(asset_path("astronaut_nasa_256.jpg"))), (240, 240), interpolation=cv2.INTER_AREA)
    with VideoSink(path, VideoInfo(640, 480, 30.0, frames)) as sink:
        for i in range(frames):
            frame = np.full((480, 640, 3), 110, np.uint8)
            x = int(200 + 150 * np.sin(2 * np.pi * i / frames))
            y = int(120 + 40 * np.cos(2 * np.pi * i / frames))
            frame[y : y + 240, x : x + 240] = face
            sink.write(frame)
    return path
