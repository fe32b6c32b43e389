"""The REST calls of ``ferlite serve``, documented at ``/docs`` (OpenAPI):

- ``POST /v1/predict`` with one or more images (multipart field ``files``): each image's faces, as ``ferlite
  predict`` prints them, as ``{"model": ..., "images": [...], "errors": [...]}``;
- ``POST /v1/analyze`` with several images or one short video (multipart field ``files``): the table of
  ``ferlite analyze`` as ``{"rows": [...], "errors": [{"file": ..., "error": ...}]}``, a file that could not be
  read named in ``errors``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

# At module level: FastAPI resolves the (string) annotations of the routes in this module's globals.
from fastapi import APIRouter, HTTPException, UploadFile
from fastapi.responses import JSONResponse

from ...runtime.image import IMAGE_SUFFIXES
from ..analyze import VIDEO_SUFFIXES, iter_rows
from .frames import decode_upload
from .workers import InferenceWorkers

MAX_UPLOAD_BYTES = 50_000_000  # one REST request: a few photos or a short clip


class UploadBudget:
    """The bytes one request may still upload; 413 as soon as a file would go over."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes, self.left = max_bytes, max_bytes

    async def read(self, upload: UploadFile) -> bytes:
        data = await upload.read(self.left + 1)
        if len(data) > self.left:
            raise HTTPException(status_code=413, detail=f"uploads are over the limit of {self.max_bytes} bytes")
        self.left -= len(data)
        return data


def rest_router(workers: InferenceWorkers, max_upload_bytes: int = MAX_UPLOAD_BYTES) -> APIRouter:
    """The REST routes, running on the server's shared ``workers``."""
    router = APIRouter(prefix="/v1")
    recognizer = workers.recognizer

    @router.post("/predict")
    async def predict(files: list[UploadFile]) -> JSONResponse:
        """The faces and emotions of one or more images (JPEG, PNG, ...): boxes in each one's own pixels, every class
        score; a file that cannot be read is named in ``errors`` (422 when none can)."""
        budget, images, errors = UploadBudget(max_upload_bytes), [], []
        for upload in files:
            name = upload.filename or "image"
            data = await budget.read(upload)
            try:
                bgr = await workers.decode(decode_upload, data, name)
            except ValueError as e:
                errors.append({"file": name, "error": str(e)})
                continue
            faces = await workers.infer(recognizer.predict, bgr)
            images.append({"source": name, "width": bgr.shape[1], "height": bgr.shape[0], "faces": faces.to_dicts()})
        if not images:
            raise HTTPException(status_code=422, detail="; ".join(e["error"] for e in errors))
        return JSONResponse({"model": recognizer.classifier.model_path.name, "images": images, "errors": errors})

    @router.post("/analyze")
    async def analyze(files: list[UploadFile]) -> JSONResponse:
        """The table of ``ferlite analyze`` for several images or one short video: ``rows``, and ``errors`` naming each
        file that could not be read."""
        budget = UploadBudget(max_upload_bytes)
        with tempfile.TemporaryDirectory(prefix="ferlite-upload-") as tmp:
            names: dict[str, str] = {}  # the saved file's path: the client's file name
            for i, upload in enumerate(files):
                suffix = Path(upload.filename or "").suffix.lower()
                if suffix not in IMAGE_SUFFIXES | VIDEO_SUFFIXES:
                    raise HTTPException(status_code=422, detail=f"{upload.filename}: not an image or video file name")
                path = Path(tmp) / f"{i:04d}{suffix}"  # never the client's name: no path tricks
                path.write_bytes(await budget.read(upload))
                names[str(path)] = upload.filename or path.name
            paths = [Path(p) for p in names]
            if sum(p.suffix in VIDEO_SUFFIXES for p in paths) > 1:
                raise HTTPException(status_code=422, detail="send one video at a time")
            errors: list[dict[str, str]] = []

            def skipped(path: Path, error: object) -> None:
                errors.append({"file": names[str(path)], "error": str(error).replace(str(path), names[str(path)])})

            def table() -> list[dict]:
                rows = iter_rows(paths, recognizer, progress=False, on_skip=skipped)
                return [{**row, "source": names[row["source"]]} for row in rows]

            rows = await workers.infer(table)
        return JSONResponse({"rows": rows, "errors": errors})

    return router
