"""The routes that serve the page: ``/``, its icon, ``/config.json`` and the two models of its on-device mode (the
page's other files are mounted at ``/static``)."""

from __future__ import annotations

from typing import Any

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse, JSONResponse

from .assets import model_files, static_dir


def page_router(config: dict[str, Any], recognizer: Any) -> APIRouter:
    """The page's routes; ``config`` is what :func:`~ferlite.apps.web.assets.web_config` gave for ``recognizer``."""
    router = APIRouter(include_in_schema=False)
    models = model_files(recognizer)

    @router.get("/favicon.svg")
    @router.get("/favicon.ico")
    def favicon() -> FileResponse:
        return FileResponse(static_dir() / "favicon.svg", media_type="image/svg+xml")

    @router.get("/")
    def index() -> FileResponse:
        return FileResponse(static_dir() / "index.html", media_type="text/html")

    @router.get("/config.json")
    def page_config() -> JSONResponse:
        return JSONResponse(config)

    @router.get("/models/{name}")
    def model(name: str) -> FileResponse:
        path = models.get(f"models/{name}")  # only the two named files: never a path from the request
        if path is None:
            raise HTTPException(status_code=404, detail="no such model")
        return FileResponse(path, media_type="application/octet-stream")

    return router
