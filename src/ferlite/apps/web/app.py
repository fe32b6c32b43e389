"""The FastAPI application of ``ferlite serve`` (protocol: see :mod:`ferlite.apps.web`)."""

from __future__ import annotations

import asyncio
import json
import time
from concurrent.futures import ThreadPoolExecutor

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import FastAPI, HTTPException, UploadFile, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ...runtime import Recognizer
from ...runtime.personalize import StreamPersonalization
from ...runtime.recognizer import model_terms
from . import ISOLATION_HEADERS, MAX_BYTES, MAX_FPS, MAX_SIDE, check_size, decode_frame, model_files, static_dir, web_config
from .guard import RequestGuard

# Host names a local server answers to; another (a DNS-rebinding page's own name) is refused.
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
MAX_CLIENTS = 8
MAX_UPLOAD_BYTES = 50_000_000  # one REST request: a few photos or a short clip
# A WebSocket that sends nothing for this long is closed: idle sockets would otherwise hold the client slots.
IDLE_TIMEOUT_S = 60.0


def create_app(
    recognizer: Recognizer | None = None,
    max_fps: float = MAX_FPS,
    max_bytes: int = MAX_BYTES,
    max_side: int = MAX_SIDE,
    allowed_hosts: tuple[str, ...] = LOCAL_HOSTS,
    allowed_origins: tuple[str, ...] = (),
    max_clients: int = MAX_CLIENTS,
    api_key: str | None = None,
    max_upload_bytes: int = MAX_UPLOAD_BYTES,
    idle_timeout: float = IDLE_TIMEOUT_S,
):
    """The FastAPI application: the page at ``/``, the WebSocket at ``/ws``, ``/health``; for the page's on-device
    mode, ``/config.json`` (:func:`~ferlite.apps.web.web_config`) and the models at ``/models/yunet.onnx`` and
    ``/models/emotion.onnx``. Every response carries the cross-origin isolation headers (WebAssembly threads).

    Args:
        recognizer: the detector and emotion model shared by all clients (default: the bundled ones).
            Each connection gets its own tracker.
        max_fps: frames per second accepted per client; faster frames get an error reply.
        max_bytes: largest accepted frame message.
        max_side: largest accepted frame side in pixels.
        allowed_hosts: the ``Host`` names served (default: this machine's); others get 400, which stops DNS
            rebinding. ``ferlite serve --host`` adds the bound address.
        allowed_origins: web origins besides the server's own whose pages may call the server, REST and WebSocket
            alike (default none: another site's page can neither use the camera stream nor the inference worker).
        max_clients: WebSocket connections served at once; more are closed with code 1013 (try again later).
        api_key: when set, everything but the page's static files needs it (:mod:`ferlite.apps.web.guard`).
        max_upload_bytes: largest upload of the REST calls, in all.
        idle_timeout: seconds after which a WebSocket that sent nothing is closed (code 1001).

    The REST calls, documented at ``/docs`` (OpenAPI):

    - ``POST /v1/predict`` with one or more images (multipart field ``files``): each image's faces, as ``ferlite
      predict`` prints them, as ``{"model": ..., "images": [...], "errors": [...]}``;
    - ``POST /v1/analyze`` with several images or one short video (multipart field ``files``): the table of
      ``ferlite analyze`` as ``{"rows": [...], "errors": [{"file": ..., "error": ...}]}``, a file that could not be
      read named in ``errors``.
    """
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    base = recognizer or Recognizer(threads=1)
    # OpenCV's detector and the ONNX sessions are shared; one worker thread runs them in turn. Frames are decoded
    # on another, so that decoding never blocks the event loop, the other clients, or inference.
    worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-infer")
    decoder = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ferlite-decode")
    app = FastAPI(title="ferlite", docs_url="/docs", redoc_url=None)
    app.add_middleware(RequestGuard, api_key=api_key, allowed_origins=allowed_origins, max_upload_bytes=max_upload_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[h.strip("[]") for h in allowed_hosts] + list(allowed_hosts))
    app.state.clients = 0
    app.state.connections = 0  # WebSockets accepted since start: the on-device page must open none
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    config = web_config(base, server=True, max_fps=max_fps)
    models = model_files(base)

    @app.middleware("http")
    async def isolate(request, call_next):
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response

    async def read_upload(upload: UploadFile, budget: list[int]) -> bytes:
        data = await upload.read(budget[0] + 1)
        if len(data) > budget[0]:
            raise HTTPException(status_code=413, detail=f"uploads are over the limit of {max_upload_bytes} bytes")
        budget[0] -= len(data)
        return data

    def decode(data: bytes, name: str):
        from ...core.errors import DataError
        from ...runtime.image import decode_image, to_bgr8

        try:
            return to_bgr8(decode_image(data, name))
        except DataError as e:
            raise HTTPException(status_code=422, detail=str(e)) from None

    @app.post("/v1/predict")
    async def predict(files: list[UploadFile]) -> JSONResponse:
        """The faces and emotions of one or more images (JPEG, PNG, ...): boxes in each one's own pixels, every class
        score; a file that cannot be read is named in ``errors`` (422 when none can)."""
        budget, images, errors = [max_upload_bytes], [], []
        for upload in files:
            name = upload.filename or "image"
            data = await read_upload(upload, budget)
            try:
                bgr = await loop_of().run_in_executor(decoder, decode, data, name)
            except HTTPException as e:
                errors.append({"file": name, "error": e.detail})
                continue
            faces = await loop_of().run_in_executor(worker, base.predict, bgr)
            images.append({"source": name, "width": bgr.shape[1], "height": bgr.shape[0], "faces": faces.to_dicts()})
        if not images:
            raise HTTPException(status_code=422, detail="; ".join(e["error"] for e in errors))
        return JSONResponse({"model": base.classifier.model_path.name, "images": images, "errors": errors})

    @app.post("/v1/analyze")
    async def analyze(files: list[UploadFile]) -> JSONResponse:
        """The table of ``ferlite analyze`` for several images or one short video: ``rows``, and ``errors`` naming each
        file that could not be read."""
        import tempfile
        from pathlib import Path

        from ...runtime.image import IMAGE_SUFFIXES
        from ..analyze import VIDEO_SUFFIXES, iter_rows

        budget = [max_upload_bytes]
        with tempfile.TemporaryDirectory(prefix="ferlite-upload-") as tmp:
            paths = []
            for i, upload in enumerate(files):
                suffix = Path(upload.filename or "").suffix.lower()
                if suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    raise HTTPException(status_code=422, detail=f"{upload.filename}: not an image or video file name")
                path = Path(tmp) / f"{i:04d}{suffix}"  # never the client's name: no path tricks
                path.write_bytes(await read_upload(upload, budget))
                paths.append(path)
            if sum(p.suffix in VIDEO_SUFFIXES for p in paths) > 1:
                raise HTTPException(status_code=422, detail="send one video at a time")
            names = {str(p): f.filename for p, f in zip(paths, files)}
            errors: list[dict[str, str]] = []

            def skipped(path: Path, error) -> None:
                errors.append({"file": names[str(path)], "error": str(error).replace(str(path), names[str(path)])})

            def table() -> list[dict]:
                rows = iter_rows(paths, base, progress=False, on_skip=skipped)
                return [{**row, "source": names[row["source"]]} for row in rows]

            rows = await loop_of().run_in_executor(worker, table)
        return JSONResponse({"rows": rows, "errors": errors})

    def loop_of():
        return asyncio.get_running_loop()

    @app.get("/favicon.svg", include_in_schema=False)
    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> FileResponse:
        return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")

    @app.get("/")
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    @app.get("/config.json", include_in_schema=False)
    def page_config() -> JSONResponse:
        return JSONResponse(config)

    @app.get("/models/{name}", include_in_schema=False)
    def model(name: str) -> FileResponse:
        path = models.get(f"models/{name}")  # only the two named files: never a path from the request
        if path is None:
            raise HTTPException(status_code=404, detail="no such model")
        return FileResponse(path, media_type="application/octet-stream")

    @app.get("/health")
    def health() -> JSONResponse:
        return JSONResponse(
            {
                "status": "ok",
                "model": base.classifier.model_path.name,
                "terms": model_terms(base.classifier.model_path),
                "labels": list(base.labels),
                "clients": app.state.clients,
                "connections": app.state.connections,
            }
        )

    @app.websocket("/ws")
    async def stream(ws: WebSocket) -> None:
        if app.state.clients >= max_clients:
            await ws.close(code=1013, reason=f"server busy: at most {max_clients} clients")
            return
        await ws.accept()
        app.state.clients += 1
        app.state.connections += 1
        rec = base.new_stream()  # this client's own tracker, smoother and detect-every state; shared models
        personal = StreamPersonalization(base)  # this client's corrections (keys 1-8), for this visit only
        await ws.send_json(
            {"type": "hello", "labels": list(base.labels), "max_fps": max_fps, "max_bytes": max_bytes, "max_side": max_side}
        )
        frame_no, last = 0, 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    message = await asyncio.wait_for(ws.receive(), idle_timeout)
                except TimeoutError:
                    await ws.close(code=1001, reason=f"idle for {idle_timeout:g} s")
                    break
                if message["type"] == "websocket.disconnect":
                    break
                data = message.get("bytes")
                if data is None:
                    reply = {"type": "error", "message": "expected a binary message with one JPEG or PNG frame"}
                    correction = _label_of_correction_message(message.get("text"))
                    if correction is not None:  # {"type": "correct", "label": "happy"}: the viewer's correction
                        reply = await loop.run_in_executor(worker, personal.correct, correction)
                    await ws.send_json(reply)
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
                faces = await loop.run_in_executor(worker, lambda f=frame: personal.apply(f, rec.update(f)))
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


def _label_of_correction_message(text: str | None) -> str | None:
    """The label of a ``{"type": "correct", "label": ...}`` text message, else None (any other text is refused)."""
    if not text or len(text) > 200:
        return None
    try:
        message = json.loads(text)
    except ValueError:
        return None
    if isinstance(message, dict) and message.get("type") == "correct" and isinstance(message.get("label"), str):
        return message["label"]
    return None
