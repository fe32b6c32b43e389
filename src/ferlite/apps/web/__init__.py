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

The rooms, in the order a request meets them:

- :mod:`.guard`: who may use the server (origin, API key, upload size), before any route;
- :mod:`.pages`: the page, ``/config.json`` and the models, built from :mod:`.assets` (what the page is made of, and
  the page as a static folder);
- :mod:`.rest`: the REST calls (a router);
- :mod:`.session`: one page's WebSocket (:class:`~.session.StreamSession`), its frames checked by :mod:`.frames`;
- :mod:`.workers`: the two threads all of them share;
- :mod:`.app`: :func:`~.app.create_app` puts them together; :mod:`.server` runs it (hosts, TLS, port).

Example:
    >>> from ferlite.apps.web.app import create_app
    >>> app = create_app()  # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)  # doctest: +SKIP
"""

from .assets import model_files, on_device_blocker, static_dir, web_config, write_static_site
from .frames import MAX_BYTES, MAX_FPS, MAX_SIDE, decode_frame

# The rooms are listed too, so that the API reference (pdoc follows __all__) has a page for each.
__all__ = [
    "app",
    "assets",
    "frames",
    "guard",
    "headless",
    "pages",
    "rest",
    "server",
    "session",
    "workers",
    "MAX_BYTES",
    "MAX_FPS",
    "MAX_SIDE",
    "decode_frame",
    "model_files",
    "on_device_blocker",
    "static_dir",
    "web_config",
    "write_static_site",
]
