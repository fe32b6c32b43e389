"""The FastAPI application of ``ferlite serve`` (protocol: see :mod:`ferlite.apps.web`): the rooms put together."""

from __future__ import annotations

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from ...runtime import Recognizer
from ...runtime.recognizer import model_terms
from .assets import ISOLATION_HEADERS, static_dir, web_config
from .frames import MAX_BYTES, MAX_FPS, MAX_SIDE, FrameLimits
from .guard import RequestGuard
from .pages import page_router
from .rest import MAX_UPLOAD_BYTES, rest_router
from .server import LOCAL_HOSTS
from .session import IDLE_TIMEOUT_S, StreamSession
from .workers import InferenceWorkers

MAX_CLIENTS = 8


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
) -> FastAPI:
    """The FastAPI application: the page at ``/`` (:mod:`.pages`), the WebSocket at ``/ws`` (:mod:`.session`), the
    REST calls at ``/v1`` (:mod:`.rest`) and ``/health``. Every response carries the cross-origin isolation headers
    (WebAssembly threads).

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
    """
    from starlette.middleware.trustedhost import TrustedHostMiddleware

    workers = InferenceWorkers(recognizer or Recognizer(threads=1))
    base = workers.recognizer
    limits = FrameLimits(max_fps=max_fps, max_bytes=max_bytes, max_side=max_side)
    app = FastAPI(title="ferlite", docs_url="/docs", redoc_url=None)
    app.add_middleware(RequestGuard, api_key=api_key, allowed_origins=allowed_origins, max_upload_bytes=max_upload_bytes)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=[h.strip("[]") for h in allowed_hosts] + list(allowed_hosts))
    app.state.clients = 0
    app.state.connections = 0  # WebSockets accepted since start: the on-device page must open none
    app.mount("/static", StaticFiles(directory=static_dir()), name="static")
    app.include_router(page_router(web_config(base, server=True, max_fps=max_fps), base))
    app.include_router(rest_router(workers, max_upload_bytes))

    @app.middleware("http")
    async def isolate(request, call_next):
        response = await call_next(request)
        response.headers.update(ISOLATION_HEADERS)
        return response

    @app.get("/health")
    def health() -> JSONResponse:
        model = base.classifier.model_path
        counts = {"clients": app.state.clients, "connections": app.state.connections}
        return JSONResponse(
            {"status": "ok", "model": model.name, "terms": model_terms(model), "labels": list(base.labels), **counts}
        )

    @app.websocket("/ws")
    async def stream(ws: WebSocket) -> None:
        if app.state.clients >= max_clients:
            await ws.close(code=1013, reason=f"server busy: at most {max_clients} clients")
            return
        await ws.accept()
        app.state.clients += 1
        app.state.connections += 1
        try:
            await StreamSession(ws, workers, limits, idle_timeout).run()
        except WebSocketDisconnect:
            pass
        finally:
            app.state.clients -= 1

    return app
