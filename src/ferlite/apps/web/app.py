"""The FastAPI application of ``ferlite serve`` (protocol: see :mod:`ferlite.apps.web`)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ...runtime import Recognizer
from . import MAX_BYTES, MAX_FPS, MAX_SIDE, check_size, decode_frame, static_dir

# Host names a local server answers to; another (a DNS-rebinding page's own name) is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_CLIENTS = 8


def create_app(
    recognizer: Recognizer | None = None,
    max_fps: float = MAX_FPS,
    max_bytes: int = MAX_BYTES,
    max_side: int = MAX_SIDE,
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS,
    allowed_origins: tuple[str, ...] = (),
    max_clients: int = MAX_CLIENTS,
):
    """The FastAPI application: the page at ``/``, the WebSocket at ``/ws``, ``/health``.

    Args:
        recognizer: the detector and emotion model shared by all clients (default: the bundled ones).
            Each connection gets its own tracker.
        max_fps: frames per second accepted per client; faster frames get an error reply.
        max_bytes: largest accepted frame message.
        max_side: largest accepted frame side in pixels.
        allowed_hosts: the ``Host`` names served (default: this machine's); others get 400, which stops DNS
            rebinding. ``ferlite serve --host`` adds the bound address.
        allowed_origins: web origins besides the server's own whose pages may open the WebSocket (default none:
            another site's page cannot use the camera stream, cross-site WebSocket hijacking).
        max_clients: WebSocket connections served at once; more are closed with code 1013 (try again later).
    """
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    base = recognizer or Recognizer(threads=1)
    # OpenCV's detector and the ONNX sessions are shared; one worker thread runs them in turn. Frames are decoded
    # on another, so that decoding never blocks the event loop, the other clients, or inference.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-infer")
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-decode")
    app = FastAPI(title="ferlite", docs_url=None, redoc_url=None)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[h.strip("[]") for h in allowed_hosts] + list(allowed_hosts))
    app.state.clients = 0
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse({"status": "ok", "labels": list(base.labels), "clients": app.state.clients})

    @app.websocket("/ws")
    async def stream(ws: WebSocket) -> None:
        origin = ws.headers.get("origin")
        # Browsers always send Origin; a page of another site is refused unless allowed by name.
        if origin is not None and urlsplit(origin).netloc != ws.headers.get("host") and origin not in allowed_origins:
            await ws.close(code=1008, reason="origin not allowed")
            return
        if app.state.clients >= max_clients:
            await ws.close(code=1013, reason=f"server busy: at most {max_clients} clients")
            return
        await ws.accept()
        app.state.clients += 1
        rec = base.new_stream()  # this client's own tracker, smoother and detect-every state; shared models
        await ws.send_json(
            {"type": "hello", "labels": list(base.labels), "max_fps": max_fps, "max_bytes": max_bytes, "max_side": max_side}
        )
        frame_no, last = 0, 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    await ws.send_json({"type": "error", "message": "expected a binary message with one JPEG or PNG frame"})
                    continue
                try:
                    check_size(data, max_bytes)  # before anything else: an oversized message costs nothing more
                except ValueError as e:
                    await ws.send_json({"type": "error", "message": str(e)})
                    continue
                now = time.monotonic()
                # 20% slack: the page paces itself at max_fps, and network jitter bunches frames up.
                if now - last < 0.8 / max_fps:
                    await ws.send_json({"type": "error", "message": f"too many frames: at most {max_fps:g} per second"})
                    continue
                last = now
                try:
                    frame = await loop.run_in_executor(decoder, decode_frame, data, max_bytes, max_side)
                except ValueError as e:
                    await ws.send_json({"type": "error", "message": str(e)})
                    continue
                start = time.perf_counter()
                faces = await loop.run_in_executor(worker, rec.update, frame)
                frame_no += 1
                await ws.send_json(
                    {
                        "type": "faces",
                        "frame": frame_no,
                        "width": frame.shape[1],
                        "height": frame.shape[0],
                        "faces": faces.to_dicts(),
                        "ms": round((time.perf_counter() - start) * 1000, 1),
                    }
                )
        except WebSocketDisconnect:
            pass
        finally:
            app.state.clients -= 1

    return app
