"""Speed of the emotion classifier (latency at batch 1, throughput batched; fp32 and int8) and of the whole pipeline
on a real video (detect, align, classify, track): the measurements behind ``ferlite bench``.

Each measurement runs in its own process, so that one ONNX Runtime session's thread pool never competes with
another's. The results print as they come and can be written to docs/BENCHMARKS.md with the machine described.

Example:
    >>> results = run_bench(BenchSettings(models=["default"], frames=50))  # doctest: +SKIP
    >>> write_markdown(results, "docs/BENCHMARKS.md", command="ferlite bench --frames 50")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..core.paths import find_shared
from ..core.system import machine_summary
from ..evaluation.reporting import write_block


@dataclass
class BenchSettings:
    """What ``ferlite bench`` times (its options).

    Attributes:
        models: classifier models, paths or bundled names (default, accurate, fer2013).
        video: the end-to-end clip (default: the shared one-face 640x480 clip, else one made from the bundled photo).
        detector: face detector of the end-to-end runs (yunet, haar, ssd), ``ssd_model`` its two files.
        threads: ONNX Runtime threads (default: all cores for the classifier rows, the pipeline's own end to end).
        backend: the emotion model's engine (default: onnxruntime if installed, else opencv).
        batch: batch size for throughput; frames: frames of the end-to-end runs; runs: timed calls per latency.
        detect_every: also time detection on every n-th frame.
        tta: also time every model with these test-time augmentations.
    """

    models: list[str] = field(default_factory=lambda: ["default"])
    video: str | None = None
    detector: str = "yunet"
    ssd_model: list[str] | None = None
    threads: int | None = None
    backend: str | None = None
    batch: int = 64
    frames: int = 300
    detect_every: int = 3
    runs: int = 200
    tta: tuple[str, ...] = ()


def machine_description(threads: dict[str, int]) -> dict[str, Any]:
    """The machine and versions, and the ONNX Runtime threads of the classifier rows and of the pipeline rows."""
    import cv2

    try:
        import onnxruntime

        ort_version = onnxruntime.__version__
    except ImportError:
        ort_version = "not installed"
    return {**machine_summary(), "threads": threads, "onnxruntime": ort_version, "opencv": cv2.__version__}


def measure_classifier(
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


def measure_pipeline(
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
    from ..runtime.detector import build_detector
    from ..runtime.recognizer import FULL_SCAN_EVERY

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
    # Each frame decoded from the file, then processed frame by frame (Recognizer.update, as a camera runs; ferlite
    # watch on a file also overlaps detection with classification, timed by benchmarks/pipeline.py): the headline.
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


def in_own_process(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    """``measure_classifier(**job)`` or ``measure_pipeline(**job)`` in a fresh Python process (the job on stdin)."""
    code = "import sys; from ferlite.evaluation.bench import _measure_job; _measure_job(sys.stdin.read())"
    proc = subprocess.run([sys.executable, "-c", code], input=json.dumps({"kind": kind, **job}), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"bench worker failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _measure_job(text: str) -> None:
    job = json.loads(text)
    measure = measure_classifier if job.pop("kind") == "classifier" else measure_pipeline
    print(json.dumps(measure(**job)))


def default_video(say: Callable[[str], None] = print) -> str:
    """The shared one-face 640x480 clip, or, in a plain pip install without the shared folder, a clip made from the
    bundled NASA photo."""
    try:
        return str(find_shared("media/face1_emotions_pexels_640x480.mp4"))
    except FileNotFoundError:
        video = synthetic_clip(Path(tempfile.mkdtemp(prefix="ferlite-bench-")) / "bundled_photo_640x480.avi")
        say(f"no shared clip found: timing {video.name}, made from the bundled NASA photo (--video for yours)")
        return str(video)


def run_bench(settings: BenchSettings, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Time every model alone, then end to end; ``say`` gets a line per measurement as it finishes."""
    from ..runtime import resolve_model_path
    from ..runtime.detector import build_detector
    from ..runtime.recognizer import VIDEO_THREADS

    build_detector(settings.detector, settings.ssd_model)  # a missing SSD file is one line, before any timing starts
    threads = settings.threads or os.cpu_count() or 1
    # The pipeline as users get it: the Recognizer's own classifier threads unless `threads` says otherwise.
    pipeline_threads = settings.threads or VIDEO_THREADS
    models = [str(resolve_model_path(m)) for m in settings.models]
    video = settings.video or default_video(say)
    results: dict[str, Any] = {
        "machine": machine_description({"classifier": threads, "pipeline": pipeline_threads}),
        "settings": dataclasses.asdict(settings),
        "classifier": [],
        "pipeline": [],
    }
    tta_options = ("none", *dict.fromkeys(settings.tta))
    for model, tta in [(m, t) for m in models for t in tta_options]:
        job = {"model": model, "threads": threads, "batch": settings.batch, "runs": settings.runs, "tta": tta}
        r = in_own_process("classifier", {**job, "backend": settings.backend})
        results["classifier"].append(r)
        say(
            f"{_model_name(r)}: {r['latency_ms_b1']:.3f} ms/face at batch 1 (p90 {r['latency_ms_b1_p90']:.3f}), "
            f"{r['faces_per_s_batched']:.0f} faces/s at batch {r['batch']}, {r['bytes'] / 1e6:.2f} MB, {threads} threads"
        )
    # Every frame detected: each full frame (the way ferlite did it before region detection), then the default
    # (the whole frame every few frames, regions around the tracked faces between); then every n-th frame.
    runs = [(m, 1, t, 1) for m in models for t in tta_options] + [
        (m, e, t, None) for m in models for e in sorted({1, settings.detect_every}) for t in tta_options
    ]
    for model, every, tta, full in runs:
        job = {"model": model, "video": video, "threads": pipeline_threads, "frames": settings.frames}
        job |= {"detect_every": every, "tta": tta, "full_scan_every": full, "detector": settings.detector}
        r = in_own_process("pipeline", {**job, "ssd_model": settings.ssd_model, "backend": settings.backend})
        results["pipeline"].append(r)
        with_tta = f" with {tta} TTA" if tta != "none" else ""
        say(
            f"{Path(model).name}: end to end ({settings.detector} every {every} frame(s), whole frame every "
            f"{r['full_scan_every']} + align + classify{with_tta} + track) on {Path(video).name} {r['size']}: "
            f"{r['fps']:.1f} FPS ({r['ms_per_frame']:.2f} ms/frame, {r['faces_per_frame']:.2f} faces/frame, "
            f"{r['frames']} frames, {pipeline_threads} thread(s)); {r['fps_decoded_beforehand']:.1f} FPS with the "
            f"frames decoded beforehand; decoding alone {r['decode_fps']:.0f} FPS"
        )
    return results


def write_markdown(results: dict[str, Any], path: str | Path, command: str) -> None:
    """The results as the ``bench`` block of a Markdown file, under the command that produced them."""
    from ..runtime.recognizer import ROI_SIDE

    m = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}`; do not edit this block by hand.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; ONNX Runtime threads: {m['threads']['classifier']} for the "
        f"classifier rows, {m['threads']['pipeline']} in the end-to-end rows; {m['os']}; "
        f"Python {m['python']}, onnxruntime {m['onnxruntime']}, OpenCV {m['opencv']}. Each row ran in its own process.",
        "",
        "## Emotion classifier",
        "",
        f"| model | input | size | latency, batch 1 (median / p90) | throughput, batch {results['settings']['batch']} |",
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
        "FPS and ms/frame include decoding each frame from the file (on a second thread, a few frames ahead), and "
        "process frame by frame (`Recognizer.update`); `ferlite watch` on a file also overlaps detection with "
        "classification (`benchmarks/pipeline.py`). The same frames decoded beforehand, and decoding alone, are "
        "given beside.",
        "",
        "| model | video | detect every | whole frame every | TTA | frames | faces/frame | FPS | ms/frame | FPS, decoded beforehand | decoding alone |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for p in results["pipeline"]:
        lines.append(
            f"| {Path(p['model']).name} | {Path(p['video']).name} ({p['size']}) | {p['detect_every']} | {p['full_scan_every']} | {p['tta']} | {p['frames']} | {p['faces_per_frame']:.2f} | {p['fps']:.1f} "
            f"| {p['ms_per_frame']:.2f} | {p['fps_decoded_beforehand']:.1f} | {p['decode_fps']:.0f} FPS |"
        )
    write_block(Path(path), "bench", "\n".join(lines))


def synthetic_clip(path: Path, frames: int = 300) -> Path:
    """A 640x480 clip of the bundled public-domain face photo drifting over a gray background (MJPEG), so that the
    end-to-end bench runs from a plain install without any video file."""
    import cv2

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
