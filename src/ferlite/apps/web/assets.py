"""What the web page is made of: its files, the models it loads, the settings it runs with (``/config.json``), and
the page written as a folder for any static host. Nothing here needs FastAPI (the routes are in :mod:`.pages`)."""

from __future__ import annotations

import inspect
import json
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

from .frames import MAX_FPS


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
