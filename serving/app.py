"""The HTTP service: FastAPI routes over a :class:`~serving.holder.ModelHolder`.

Routes: ``POST /v1/align`` (multipart ``image``, optional form ``box`` = ``x0,y0,x1,y1``)
answers one entry of the prediction contract; ``GET /healthz``; ``GET /v1/model``;
``POST /v1/reload``; ``GET /`` (upload page); ``/docs``, ``/redoc`` (assets served from the
installed ``fastapi-offline`` package, no CDN) and ``/openapi.json``.

Every refusal is a JSON body ``{"error", "message", "status"}`` (4xx; 503 with
``Retry-After`` when the in-flight budgets are full); nothing in a request reaches the
file system.  Memory is bounded across requests: bodies by ``serve.inflight_body_mb``,
decoded pixels by ``serve.inflight_pixels`` (taken from the image header before
decoding), and at most ``serve.workers`` requests decode and align at once.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from typing import Annotated, Any

import anyio
import numpy as np
from fastapi import APIRouter, FastAPI, File, Form, Request, Response, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from facealign.decode import DecodePlan, ImageError, decode, plan_decode
from facealign.detect import BoxError, HaarFaceDetector, check_box, parse_box
from facealign.predict import predict_image
from serving.budget import Budget
from serving.form_route import limited_form_route
from serving.holder import ModelHolder
from serving.limits import ApiError, ClientGone, ServeSettings
from serving.memory import release_free_memory, tune_malloc
from serving.model_info import describe_model
from serving.page import PAGE
from serving.schemas import AlignResponse, Health, ModelInfo, ReloadResult, error_responses

log = logging.getLogger("serving")
TRIM_AFTER_PIXELS = 4_000_000  # free heap memory goes back to the system after images this large


def check_box_text(text: str) -> None:
    """Refuse box text that is not plain ASCII decimal numbers (400 naming the field).

    ``float()`` also reads ``1_0`` and non-ASCII (e.g. full-width) digits; the service does not.
    """
    if not text.isascii() or "_" in text:
        raise ApiError(400, "bad_box", f"form field 'box' must be 4 ASCII decimal numbers x0,y0,x1,y1 "
                                       f"(no '_' separators, no non-ASCII digits), got {text[:80]!r}")


def _to_original(plan: DecodePlan, faces: list[dict]) -> list[dict]:
    """Faces aligned on a reduced decode -> original-image pixels (pose is scale-free)."""
    for face in faces:
        face["box"] = [round(float(v), 2) for v in plan.to_original(face["box"])]
        face["landmarks"] = [[round(float(x), 2), round(float(y), 2)]
                             for x, y in plan.to_original(face["landmarks"])]
    return faces


def align_upload(holder: ModelHolder, detector: Any, settings: ServeSettings, data: bytes,
                 plan: DecodePlan, box: np.ndarray | None, name: str) -> dict:
    """Decode (reduced as ``plan`` says), find boxes and align one upload (a worker thread).

    ``box`` (4,) is in original-image pixels; the answer is too.
    """
    try:
        image = decode(data, plan)
    except ImageError as exc:
        raise ApiError(exc.status, "bad_image", str(exc)) from exc
    loaded = holder.current()  # one model for the whole request, even if a swap happens now
    boxes = None if box is None else [plan.to_decoded(box)]
    try:
        entry, _ = predict_image(loaded.aligner, image, name, boxes, detector if settings.detect else None)
    except BoxError as exc:
        raise ApiError(422, "bad_box", str(exc)) from exc
    if plan.factor > 1:
        entry["faces"] = _to_original(plan, entry["faces"])
    del image
    if plan.pixels >= TRIM_AFTER_PIXELS:
        release_free_memory()
    return entry


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(ApiError(status, code, message).body(), status_code=status)


def create_app(holder: ModelHolder, settings: ServeSettings | None = None) -> FastAPI:
    """The application; ``holder`` must be loaded; polling starts and stops with the app."""
    settings = settings or ServeSettings()
    detector = HaarFaceDetector()
    body_budget = Budget("request bytes", settings.inflight_body_bytes, "bytes", settings.retry_after_s)
    pixel_budget = Budget("decoded pixels", settings.inflight_pixels, "pixels", settings.retry_after_s)
    workers: dict[str, anyio.CapacityLimiter] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        workers["align"] = anyio.CapacityLimiter(settings.workers)
        if settings.malloc_mmap_threshold_kb:
            tune_malloc(settings.malloc_mmap_threshold_kb * 1024, settings.malloc_arena_max)
        holder.start()
        yield
        holder.stop()

    app = FastAPIOffline(title="facealign", version="1", lifespan=lifespan,
                         description="Large-pose 3D face alignment: 68 landmarks, visibility and head pose.")
    app.state.budgets = {"bytes": body_budget, "pixels": pixel_budget}

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @app.exception_handler(ClientGone)
    async def client_gone(_: Request, __: ClientGone) -> Response:
        return Response(status_code=400)  # logged by read_body; nobody is listening

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _error(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        missing = [e["loc"][-1] for e in exc.errors() if e.get("type") == "missing"]
        if "image" in missing:
            return _error(422, "missing_field", "multipart field 'image' is missing")
        return _error(422, "invalid_request", str(exc.errors())[:500])

    @app.exception_handler(Exception)
    async def internal_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _error(500, "internal", f"{type(exc).__name__} (see the server log)")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> HTMLResponse:
        return HTMLResponse(PAGE)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> dict:
        """Liveness and readiness: the model being served and the last alias check."""
        loaded = holder.current()
        return {"status": "ok", "ready": holder.ready, "version": loaded.ref.version,
                "follows_alias": holder.follows_alias, "last_check": holder.last_check,
                "last_reload_error": holder.last_error}

    @app.get("/v1/model", response_model=ModelInfo)
    async def model_info() -> dict:
        """Name, version, alias, family, NMEs (real-face first, with the data measured on)."""
        loaded = holder.current()
        return {**describe_model(loaded.ref), "loaded_at": loaded.loaded_at,
                "poll_interval_s": holder.poll_interval_s if holder.follows_alias else None}

    @app.post("/v1/reload", response_model=ReloadResult)
    async def reload() -> dict:
        """Re-resolve the alias now; load and swap in a new version if it moved."""
        changed = await run_in_threadpool(holder.check)
        return {"changed": changed, "model": describe_model(holder.current().ref),
                "last_reload_error": holder.last_error}

    router = APIRouter(route_class=limited_form_route(settings.max_body_bytes, body_budget))

    @router.post("/v1/align", response_model=AlignResponse,
                 responses=error_responses(400, 413, 415, 422, 503))
    async def align(
        image: Annotated[UploadFile, File(description="jpg / png / ... image")],
        box: Annotated[str | None, Form(description="face box x0,y0,x1,y1 in pixels "
                                                    "(default: detected, else the whole image)",
                                        examples=["120,150,330,380"])] = None,
    ) -> dict:
        """68 landmarks, visibility and pose (degrees) per face of one uploaded image."""
        start = time.perf_counter()
        data = image.file.getvalue()
        try:
            plan = plan_decode(data, settings.max_pixels, settings.max_decode_pixels)
        except ImageError as exc:
            code = "too_many_pixels" if exc.status == 413 else "bad_image"
            raise ApiError(exc.status, code, str(exc)) from exc
        if min(plan.width, plan.height) < settings.min_image_side:
            raise ApiError(422, "image_too_small", f"the image is {plan.width}x{plan.height}; each side "
                                                   f"needs at least {settings.min_image_side} pixels")
        given = None
        if box is not None and box.strip():
            check_box_text(box)
            try:
                given = check_box(parse_box(box.strip()), plan.width, plan.height)
            except BoxError as exc:
                raise ApiError(422, "bad_box", str(exc)) from exc
        name = (image.filename or "upload")[:255]
        with pixel_budget.hold(plan.pixels):
            result = await anyio.to_thread.run_sync(align_upload, holder, detector, settings, data, plan,
                                                    given, name, limiter=workers["align"])
        log.debug("aligned %s in %.1f ms", name, 1000 * (time.perf_counter() - start))
        return result

    app.include_router(router)
    return app
