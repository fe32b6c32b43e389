"""The FastAPI application of ``ferlite serve`` (protocol: see :mod:`ferlite.apps.web`)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ...runtime import Recognizer
from . import MAX_BYTES, MAX_FPS, MAX_SIDE, check_size, decode_frame, static_dir


def create_app(
    recognizer: Recognizer | None = None, max_fps: float = MAX_FPS, max_bytes: int = MAX_BYTES, max_side: int = MAX_SIDE
):
    """The FastAPI application: the page at ``/``, the WebSocket at ``/ws``, ``/health``.

    Args:
        recognizer: the detector and emotion model shared by all clients (default: the bundled ones).
            Each connection gets its own tracker.
        max_fps: frames per second accepted per client; faster frames get an error reply.
        max_bytes: largest accepted frame message.
        max_side: largest accepted frame side in pixels.
    """
    base = recognizer or Recognizer(threads=1)
    # OpenCV's detector and the ONNX sessions are shared; one worker thread runs them in turn.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-infer")
    app = FastAPI(title="ferlite", docs_url=None, redoc_url=None)
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
                    frame = decode_frame(data, max_bytes, max_side)
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
