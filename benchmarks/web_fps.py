"""The web page's frame rate in real headless Chromium with the fake camera: on the device against on the server.

Starts ``ferlite serve`` (its frame cap lifted, so that the server mode runs as fast as it can), opens the page in
Chromium with the fake camera playing the one-face clip's smiling segment (640x480), and for each mode lets it run
``--warmup`` seconds, then counts for ``--seconds``:

- on the device, the page analyses frame after frame (detection, alignment, the emotion model, tracking) with
  onnxruntime-web's WebAssembly build on 1 and on 2 threads (the page is cross-origin isolated); the time per frame
  is the pipeline's, from the captured pixels to the smoothed scores;
- on the server, one JPEG frame in flight at a time: the time per frame is the round trip, from the canvas capture
  to the answer (JPEG encoding, the local WebSocket and the server's pipeline, ``--threads`` ONNX Runtime threads).

Both share this machine's cores with Chromium and with each other's idle process. Faces/s and per-face latency:
the clip has one face in every frame.

    python benchmarks/web_fps.py [--write docs/BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ferlite.apps.web.headless import free_ports, open_chromium, wait_for_port, wait_until_ready
from ferlite.core.paths import find_shared
from ferlite.core.system import cpu_model
from ferlite.evaluation.reporting import write_block
from ferlite.runtime.video import video_to_y4m

CLIP = "face1_emotions_pexels_640x480.mp4"
# pace=max: the page analyses frame after frame (by default it waits for each new camera frame).
MODES = {
    "on the device, WebAssembly, 1 thread": "?threads=1&pace=max",
    "on the device, WebAssembly, 2 threads": "?threads=2&pace=max",
}


def measure(driver, url: str, warmup: float, seconds: float) -> dict:
    driver.get(url)
    wait_until_ready(driver)
    driver.find_element("id", "start").click()
    time.sleep(warmup)
    driver.execute_script("window.ferliteStats.frames = []; window.ferliteStats.since = performance.now();")
    time.sleep(seconds)
    stats = driver.execute_script("return [window.ferliteStats.frames, performance.now() - window.ferliteStats.since]")
    frames, elapsed_ms = stats
    status = driver.find_element("id", "status").text
    driver.find_element("id", "start").click()  # stop
    if not frames:
        raise SystemExit(f"web_fps: no frame analysed at {url} (status: {status})")
    faces = sum(f["faces"] for f in frames)
    ms = statistics.median(f["ms"] for f in frames)
    return {
        "fps": len(frames) / (elapsed_ms / 1000),
        "ms": ms,
        "face_ms": ms * len(frames) / max(faces, 1),
        "faces": faces / len(frames),
        "status": status,
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=int, default=2, help="the server's ONNX Runtime threads (default 2)")
    p.add_argument("--warmup", type=float, default=5.0)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--write", type=Path, default=None, help="put the table into this Markdown file (docs/BENCHMARKS.md)")
    args = p.parse_args()

    port = free_ports(1)[0]
    server = subprocess.Popen(
        [sys.executable, "-m", "ferlite", "serve", "--port", str(port), "--threads", str(args.threads), "--max-fps", "1000"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        y4m = Path(tmp) / "smiling.y4m"
        video_to_y4m(find_shared(f"media/{CLIP}"), y4m, 10.0, 16.0)
        driver = None
        try:
            wait_for_port(port, proc=server)
            driver = open_chromium(y4m)
            version = driver.capabilities.get("browserVersion", "?")
            base = f"http://127.0.0.1:{port}/"
            modes = {**MODES, f"on the server (ferlite serve --threads {args.threads}), over a WebSocket": "?mode=server"}
            for name, query in modes.items():
                r = measure(driver, base + query, args.warmup, args.seconds)
                rows.append((name, r))
                print(f"{name}: {r['fps']:.1f} FPS, {r['ms']:.1f} ms per frame, {r['face_ms']:.1f} ms per face ({r['status']})")
        finally:
            if driver:
                driver.quit()
            server.terminate()
            server.wait(timeout=10)
    lines = [
        "## The web page: on the device or on the server",
        "",
        f"The web page in headless Chromium {version} with the fake camera (the one-face clip, 640x480), "
        f"{cpu_model()}, {os.cpu_count()} cores, nothing else running; `python benchmarks/web_fps.py --write "
        "docs/BENCHMARKS.md`. Frames per second analysed (with `?pace=max` the page analyses the next frame as soon "
        "as one is shown; by default it waits for a new camera frame), the median time per frame, and per face. On the device the time is the pipeline's, from the captured "
        "pixels to the smoothed scores; on the server it is the round trip from the capture to the answer (JPEG "
        "encoding, the local WebSocket, the server's pipeline). Chromium, its page and the server share the cores.",
        "",
        "| where the page runs | frames/s | ms per frame (median) | ms per face |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {r['fps']:.1f} | {r['ms']:.1f} | {r['face_ms']:.1f} |" for name, r in rows]
    text = "\n".join(lines)
    print(json.dumps({name: r for name, r in rows}, indent=1))
    if args.write:
        write_block(args.write, "web", text)


if __name__ == "__main__":
    main()
