"""The HTTP service: FastAPI routes over a :class:`~serving.holder.ModelHolder`.

Routes: ``POST /v1/align`` (multipart ``image``, optional form ``box`` = ``x0,y0,x1,y1``)
answers one entry of the prediction contract; ``GET /healthz``; ``GET /v1/model``;
``POST /v1/reload``; ``GET /`` (upload page); ``/docs`` and ``/openapi.json``.

Every refusal is a 4xx JSON body ``{"error", "message", "status"}``; nothing in a request
reaches the file system (bodies are read into memory under the size limit, and the
upload's file name is only echoed back).
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from facealign.decode import ImageError
from facealign.detect import BoxError, HaarFaceDetector
from facealign.predict import predict_image, to_image
from serving.holder import ModelHolder
from serving.limits import ApiError, ServeSettings, read_body
from serving.multipart import parse_form
from serving.page import PAGE

log = logging.getLogger("serving")

ALIGN_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["image"], "properties": {
        "image": {"type": "string", "format": "binary", "description": "jpg / png / ... image"},
        "box": {"type": "string", "example": "120,150,330,380",
                "description": "face box x0,y0,x1,y1 in pixels (default: detected, else whole image)"},
    }}}}}}


def align_upload(holder: ModelHolder, detector: Any, settings: ServeSettings, data: bytes,
                 box_text: str | None, name: str) -> dict:
    """Decode, find boxes and align one upload (runs in a worker thread)."""
    try:
        image = to_image(data, settings.max_pixels)
    except ImageError as exc:
        raise ApiError(exc.status, "too_many_pixels" if exc.status == 413 else "bad_image", str(exc)) from exc
    h, w = image.shape[:2]
    if min(h, w) < settings.min_image_side:
        raise ApiError(422, "image_too_small", f"the image is {w}x{h}; each side needs "
                                               f"at least {settings.min_image_side} pixels")
    loaded = holder.current()  # one model for the whole request, even if a swap happens now
    try:
        entry, _ = predict_image(loaded.aligner, image, name, [box_text] if box_text else None,
                                 detector if settings.detect else None)
    except BoxError as exc:
        raise ApiError(422, "bad_box", str(exc)) from exc
    return entry


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ApiError(status, code, message).body(), status_code=status)


def create_app(holder: ModelHolder, settings: ServeSettings | None = None) -> FastAPI:
    """The application; ``holder`` must be loaded; polling starts and stops with the app."""
    settings = settings or ServeSettings()
    detector = HaarFaceDetector()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        holder.start()
        yield
        holder.stop()

    app = FastAPI(title="facealign", version="1", lifespan=lifespan,
                  description="Large-pose 3D face alignment: 68 landmarks, visibility and head pose.")

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(422, "invalid_request", str(exc.errors())[:500])

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _error(500, "internal", f"{type(exc).__name__} (see the server log)")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz")
    async def healthz() -> dict:
        """Liveness and readiness: the model being served and the last alias check."""
        loaded = holder.current()
        return {"status": "ok", "ready": holder.ready, "version": loaded.ref.version,
                "follows_alias": holder.follows_alias, "last_check": holder.last_check,
                "last_reload_error": holder.last_error}

    @app.get("/v1/model")
    async def model_info() -> dict:
        """Name, version, alias, family, ``nme_mean`` and test data hash of the model served."""
        loaded = holder.current()
        return {**loaded.ref.describe(), "loaded_at": loaded.loaded_at,
                "poll_interval_s": holder.poll_interval_s if holder.follows_alias else None}

    @app.post("/v1/reload")
    async def reload() -> dict:
        """Re-resolve the alias now; load and swap in a new version if it moved."""
        changed = await run_in_threadpool(holder.check)
        return {"changed": changed, "model": holder.current().ref.describe(),
                "last_reload_error": holder.last_error}

    @app.post("/v1/align", openapi_extra=ALIGN_BODY)
    async def align(request: Request) -> dict:
        """68 landmarks, visibility and pose (degrees) per face of one uploaded image."""
        start = time.perf_counter()
        body = await read_body(request, settings.max_body_bytes)
        if not body:
            raise ApiError(400, "empty_body", "the request body is empty; send multipart field 'image'")
        form = parse_form(body, request.headers.get("content-type"))
        if "image" not in form:
            raise ApiError(422, "missing_field", f"multipart field 'image' is missing (got: {sorted(form)})")
        box_text = None
        if "box" in form:
            try:
                box_text = form["box"].data.decode("utf-8").strip() or None
            except UnicodeDecodeError as exc:
                raise ApiError(422, "bad_box", "field 'box' is not UTF-8 text") from exc
        part = form["image"]
        name = (part.filename or "upload")[:255]
        result = await run_in_threadpool(align_upload, holder, detector, settings, part.data, box_text, name)
        log.debug("aligned %s in %.1f ms", name, 1000 * (time.perf_counter() - start))
        return result

    return app
