"""The service's typed request and response bodies (pydantic), as its OpenAPI documents them.

The prediction answer keeps the contract's JSON shape exactly: ``{"image", "faces": [{"box",
"landmarks", "visible", "pose": {"yaw", "pitch", "roll"}}]}`` (pixels of the original
image, y down; angles in degrees).  Every refusal is an :class:`ErrorBody`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ErrorBody(BaseModel):
    """A refusal: a short machine-readable ``error`` code, a message for people, the status."""

    error: str = Field(examples=["bad_image"])
    message: str = Field(examples=["not a readable image (unknown or unsupported format)"])
    status: int = Field(examples=[400])


class Pose(BaseModel):
    """Head pose in degrees (3DDFA convention; image y down)."""

    yaw: float
    pitch: float
    roll: float


class Face(BaseModel):
    """One aligned face in original-image pixels."""

    box: list[float] = Field(min_length=4, max_length=4, description="x0, y0, x1, y1 in pixels")
    landmarks: list[list[float]] = Field(description="68 iBUG points [x, y], pixels, y down")
    visible: list[bool] = Field(description="68 flags: false for a self-occluded point")
    pose: Pose


class AlignResponse(BaseModel):
    """The prediction contract's entry for one uploaded image."""

    image: str = Field(description="the upload's file name, echoed")
    faces: list[Face]


class HeadlineNme(BaseModel):
    """The NME a model is best described by, and the data it was measured on."""

    value: float | None = Field(description="percent")
    data: str = Field(description="'real faces' (tag real_nme_mean) or 'synthetic test set' (nme_mean)")
    data_hash: str | None = Field(description="real_data_hash or test_data_hash of that data")
    label: str = Field(examples=["real-face NME 5.14 % (real data 1a2b3c4d)"])


class ModelInfo(BaseModel):
    """``GET /v1/model``: what is served (further registry facts pass through unchanged)."""

    model_config = ConfigDict(extra="allow")

    spec: str
    name: str | None = None
    version: str | None = None
    alias: str | None = None
    family: str | None = None
    nme_mean: float | None = Field(None, description="synthetic test-set NME, percent")
    test_data_hash: str | None = None
    real_nme_mean: float | None = Field(None, description="real-face NME, percent, when measured")
    real_data_hash: str | None = None
    headline_nme: HeadlineNme
    loaded_at: float | None = None
    poll_interval_s: float | None = None


class Health(BaseModel):
    """``GET /healthz``: liveness, readiness, the served version and the last alias check."""

    model_config = ConfigDict(extra="allow")

    status: str
    ready: bool
    version: str | None
    follows_alias: bool
    last_check: float | None
    last_reload_error: str | None


class ReloadResult(BaseModel):
    """``POST /v1/reload``: whether the model changed and what is served now."""

    model_config = ConfigDict(extra="allow")

    changed: bool
    model: dict[str, Any]
    last_reload_error: str | None


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for the given refusal statuses, each with the :class:`ErrorBody`."""
    meaning = {
        400: "unreadable, truncated or empty image, malformed multipart body, malformed box text",
        413: "body over serve.max_body_mb, or image over serve.max_pixels / serve.max_decode_pixels",
        415: "not multipart/form-data",
        422: "missing field 'image', box outside the image or inverted, image too small",
        503: "the in-flight byte or pixel budget is full: retry after the Retry-After header's seconds",
    }
    return {status: {"model": ErrorBody, "description": meaning[status]} for status in statuses}
