"""``ferlite serve``: an emotion-aware web app (FastAPI, WebSocket, the browser's camera).

The page (``static/``) captures the webcam with ``getUserMedia``, sends JPEG frames over a
WebSocket, and draws the faces and emotions the server answers with: boxes, large
high-contrast captions, a live mood bar, and a theme that follows the dominant emotion.

Protocol, one WebSocket per page at ``/ws``:

- server -> client first: ``{"type": "hello", "labels": [...], "max_fps": 10, "max_bytes": ..., "max_side": ...}``
- client -> server: a binary message, one JPEG or PNG frame;
- server -> client: ``{"type": "faces", "frame": n, "faces": [...], "ms": 12.3}``, or
  ``{"type": "error", "message": "..."}`` for a malformed, oversized or too-frequent
  message; the connection stays open and other clients are not affected.

On-device mode (the default where the browser can run it): the page runs the same pipeline itself, in
``static/ferlite.js`` with onnxruntime-web (vendored by ``tools/vendor_onnxruntime_web.py``, never a CDN), on the
models and settings of ``/config.json`` (:func:`web_config`), and opens no WebSocket: the server only serves files.
:func:`write_static_site` writes the page as a folder for any static host (``ferlite serve --static-only DIR``).

Example:
    >>> from ferlite.apps.web.app import create_app
    >>> app = create_app()  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import cv2
import numpy as np

MAX_BYTES = 2_000_000  # one JPEG frame; a 1280x720 webcam frame at quality 0.8 is about 150 kB
MAX_SIDE = 1280
MAX_FPS = 10.0


def static_dir() -> Path:
    """The page's files (index.html, app.js, style.css), shipped as package data."""
    return Path(str(resources.files("ferlite.apps.web").joinpath("static")))


ONNXRUNTIME_WEB = "vendor/onnxruntime-web"  # under static_dir(): written by tools/vendor_onnxruntime_web.py
DETECTOR_URL, CLASSIFIER_URL = "models/yunet.onnx", "models/emotion.onnx"
# Cross-origin isolation, which WebAssembly threads need (SharedArrayBuffer); the page loads nothing from elsewhere.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp"}


def onnxruntime_web_vendored() -> bool:
    """Whether onnxruntime-web's files are in the package (every wheel build fetches them, see setup.py; in a checkout,
    ``make web-vendor``)."""
    return (static_dir() / ONNXRUNTIME_WEB / "ort.wasm.min.mjs").is_file()


def on_device_blocker(recognizer: Any) -> str | None:
    """Why the page cannot run this recognizer on the device (None when it can): the browser pipeline is the
    bundled-style one, YuNet and a model without ten-view TTA, and onnxruntime-web must be vendored."""
    from ...runtime.detector import YuNetDetector

    clf = recognizer.classifier
    if not onnxruntime_web_vendored():
        return (
            "onnxruntime-web is not in this install (built with FERLITE_WITHOUT_WEB; reinstall ferlite where npm can "
            "fetch it, or in a checkout run: make web-vendor)"
        )
    if not isinstance(recognizer.detector, YuNetDetector):
        return "the browser runs YuNet only; this server uses another detector"
    if clf.tta not in ("none", "flip"):
        return f"the browser runs test-time augmentation none or flip, not {clf.tta}"
    if clf.personalization is not None:
        return "a personalization file is applied on the server only"
    return None


def web_config(recognizer: Any, server: bool = True, max_fps: float = MAX_FPS) -> dict[str, Any]:
    """The settings the page and its on-device pipeline (``static/ferlite.js``) run with, from the Python runtime's
    own objects and constants, so that the two pipelines do not drift apart; served as ``/config.json``.

    Args:
        recognizer: the server's :class:`~ferlite.runtime.Recognizer` (models, detector, tracker, smoother).
        server: whether a server answers the WebSocket (False for :func:`write_static_site`'s folder).
        max_fps: the server mode's frame rate.

    Example:
        >>> from ferlite.runtime import Recognizer
        >>> config = web_config(Recognizer(threads=1))
        >>> config["classifier"]["labels"][:2], config["detector"]["model_url"]
        (['neutral', 'happy'], 'models/yunet.onnx')
    """
    from ... import __version__
    from ...runtime.personalize import Personalization

    clf, det, tracker, smoother = recognizer.classifier, recognizer.detector, recognizer.tracker, recognizer.smoother
    fit = inspect.signature(Personalization.fit).parameters
    blocker = on_device_blocker(recognizer)
    return {
        "ferlite": __version__,
        "server": server,
        "max_fps": max_fps,
        "on_device": {"available": blocker is None, "reason": blocker, "onnxruntime_web": ONNXRUNTIME_WEB},
        "detector": {
            "model_url": DETECTOR_URL,
            "max_side": getattr(det, "max_side", 320),
            "score_threshold": float(getattr(det, "score_threshold", 0.7)),
            "nms_threshold": float(getattr(det, "nms_threshold", 0.3)),
            "photo_min_confidence": float(recognizer.photo_min_confidence),
        },
        "classifier": {
            "model_url": CLASSIFIER_URL,
            "name": clf.model_path.name,
            "labels": list(clf.labels),
            "input_size": clf.spec.input_size,
            "mean": [float(v) for v in clf.spec.mean],
            "std": [float(v) for v in clf.spec.std],
            "color_mode": clf.spec.color_mode,
            "temperature": float(clf.calibration.temperature),
            "bias": [float(b) for b in clf.calibration.bias],
            "tta": clf.tta,
            "margin": float(recognizer.margin),
            "align": bool(recognizer.align),
        },
        "tracker": {
            k: getattr(tracker, k)
            for k in ("iou_threshold", "lost_track_buffer", "high_threshold", "low_threshold", "low_iou_threshold", "motion")
        },
        "smoother": {"smoothing": smoother.smoothing, "forget_after": smoother.forget_after},
        "personalization": {
            "blend": Personalization.__dataclass_fields__["blend"].default,
            "l2": Personalization.__dataclass_fields__["l2"].default,
            "steps": fit["steps"].default,
        },
    }


def model_files(recognizer: Any) -> dict[str, Path]:
    """The files behind ``/models/...``: the recognizer's own emotion model and its own YuNet file, so that the page
    runs the detector whose thresholds ``/config.json`` gives (no detector file when the recognizer does not use
    YuNet: the page then cannot run on the device, see :func:`on_device_blocker`).

    Example:
        >>> from ferlite.runtime import Recognizer
        >>> sorted(model_files(Recognizer(threads=1)))
        ['models/emotion.onnx', 'models/yunet.onnx']
    """
    from ...runtime.detector import YuNetDetector

    files = {CLASSIFIER_URL: recognizer.classifier.model_path}
    if isinstance(recognizer.detector, YuNetDetector):
        files[DETECTOR_URL] = recognizer.detector.path
    return files


def write_static_site(out: str | Path, recognizer: Any) -> Path:
    """The page as a folder that any static web host can serve: it runs on the device only (no server mode).

    Writes ``index.html``, ``static/`` (with onnxruntime-web), ``models/`` (with their README: sources and terms),
    ``config.json``, and ``_headers`` with the cross-origin isolation headers (Netlify and Cloudflare Pages read it;
    set the same headers on other hosts, or the page runs single-threaded).

    Raises:
        UsageError: the page cannot run this recognizer on the device (see :func:`on_device_blocker`).

    Example:
        >>> write_static_site("site", Recognizer())  # doctest: +SKIP
    """
    from ...core.errors import UsageError
    from ...core.paths import asset_path, output_folder

    blocker = on_device_blocker(recognizer)
    if blocker:
        raise UsageError(f"cannot write a static page: {blocker}")
    out = output_folder(out, empty=True)
    shutil.copytree(static_dir(), out / "static", ignore=shutil.ignore_patterns("index.html", "__pycache__"))
    shutil.copy(static_dir() / "index.html", out / "index.html")
    for url, path in model_files(recognizer).items():
        (out / url).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, out / url)
    shutil.copy(asset_path("README.md"), out / "models" / "README.md")  # the models' sources, licences and terms
    (out / "config.json").write_text(json.dumps(web_config(recognizer, server=False), indent=1))
    (out / "_headers").write_text("/*\n" + "".join(f"  {k}: {v}\n" for k, v in ISOLATION_HEADERS.items()))
    return out


def check_size(data: bytes, max_bytes: int = MAX_BYTES) -> None:
    """``ValueError`` for a frame message over ``max_bytes``."""
    if len(data) > max_bytes:
        raise ValueError(f"frame of {len(data)} bytes is over the limit of {max_bytes}")


def decode_frame(data: bytes, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE) -> np.ndarray:
    """A BGR frame from an encoded image message; ``ValueError`` with a clear reason otherwise.

    The size is read from the JPEG or PNG header first (by :func:`~ferlite.runtime.image.decode_image`): a small
    message that claims a huge image (an image bomb) is refused before anything is decoded.
    """
    from ...core.errors import DataError
    from ...runtime.image import decode_image

    check_size(data, max_bytes)
    if len(data) == 0:
        raise ValueError("empty frame")
    if data[:2] != b"\xff\xd8" and data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a decodable JPEG or PNG image")
    try:
        return decode_image(data, "frame", cv2.IMREAD_COLOR, max_pixels=max_side * max_side, max_side=max_side)
    except DataError as e:
        raise ValueError(str(e)) from None
