"""The service's limits and the errors it answers with (every refusal is a 4xx JSON body,
or 503 with ``Retry-After`` when the in-flight budgets are full).

The request body is refused from its ``Content-Length`` before a byte of it is read, and
counted while it streams in when the client sends no length (chunked); the pixel limits
are checked from the image header before decoding (:mod:`facealign.decode`).  A client
that disconnects before its body has arrived is logged as one info line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from starlette.requests import ClientDisconnect

from facealign.config import ConfigError, section_fields

MB = 1024 * 1024
log = logging.getLogger("serving")
SECTION_EXTRAS = ("threads_per_request",)  # keys of the serve section read by `facealign serve` itself


@dataclass(frozen=True)
class ServeSettings:
    """The ``serve`` section of ``params.yaml``.

    Attributes:
        max_body_bytes: largest request body accepted (default 20 MB).
        max_pixels: largest image accepted, width x height (default 50 MP).
        min_image_side: smallest image side accepted, pixels.
        poll_interval_s: how often the alias is re-resolved (<= 0: never, only ``/v1/reload``).
        detect: find faces with Haar cascades when no box is given (else the whole image).
        max_decode_pixels: largest image decoded (default 24 MP): a JPEG over it is decoded
            reduced by 2, 4 or 8, another format is refused (413).
        inflight_pixels: decoded pixels of all requests admitted at once (default 120 MP,
            about 1.2 GB at the ~10 bytes per pixel a decode holds); beyond: 503.
        inflight_body_bytes: request bytes held by all requests at once (default 256 MB);
            beyond: 503.
        workers: requests decoded and aligned at once (the worker threads); others wait.
        retry_after_s: the ``Retry-After`` of a 503, seconds.
        malloc_mmap_threshold_kb: glibc buffers of at least this many KiB are mmapped (so
            freed upload buffers leave the process; :mod:`serving.memory`); 0 leaves malloc as is.
        malloc_arena_max: at most this many glibc malloc arenas (with the threshold above).
    """

    max_body_bytes: int = 20 * MB
    max_pixels: int = 50_000_000
    min_image_side: int = 8
    poll_interval_s: float = 30.0
    detect: bool = True
    max_decode_pixels: int = 24_000_000
    inflight_pixels: int = 120_000_000
    inflight_body_bytes: int = 256 * MB
    workers: int = 4
    retry_after_s: float = 1.0
    malloc_mmap_threshold_kb: int = 1024
    malloc_arena_max: int = 2

    def __post_init__(self) -> None:
        for key in ("max_body_bytes", "max_pixels", "max_decode_pixels", "inflight_pixels",
                    "inflight_body_bytes", "workers", "malloc_arena_max"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"serve.{key}: {value!r} is not a positive integer")
        threshold = self.malloc_mmap_threshold_kb
        if isinstance(threshold, bool) or not isinstance(threshold, int) or threshold < 0:
            raise ConfigError(f"serve.malloc_mmap_threshold_kb: {self.malloc_mmap_threshold_kb!r} "
                              "is not an integer >= 0")
        if not isinstance(self.retry_after_s, int | float) or self.retry_after_s <= 0:
            raise ConfigError(f"serve.retry_after_s: {self.retry_after_s!r} is not a positive number")
        if self.max_decode_pixels > self.inflight_pixels:
            raise ConfigError(f"serve.max_decode_pixels ({self.max_decode_pixels}) is over "
                              f"serve.inflight_pixels ({self.inflight_pixels}): such an image could never "
                              "be served")
        if self.max_body_bytes > self.inflight_body_bytes:
            raise ConfigError(f"serve.max_body_mb ({self.max_body_bytes / MB:g}) is over "
                              f"serve.inflight_body_mb ({self.inflight_body_bytes / MB:g})")

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> ServeSettings:
        """From ``cfg["serve"]`` (``max_body_mb`` / ``inflight_body_mb`` in MiB become ``*_bytes``).

        ``threads_per_request`` is accepted (``facealign serve`` reads it); any other
        unknown key is a :class:`facealign.config.ConfigError` naming it.
        """
        section = dict(section or {})
        if "max_body_mb" in section:
            section["max_body_bytes"] = int(float(section.pop("max_body_mb")) * MB)
        if "inflight_body_mb" in section:
            section["inflight_body_bytes"] = int(float(section.pop("inflight_body_mb")) * MB)
        return cls(**section_fields(cls, section, "serve", extra=SECTION_EXTRAS))


class ApiError(Exception):
    """A refusal: HTTP ``status`` (4xx, or 503 busy), a short ``code``, a message for the
    user and response ``headers`` (``Retry-After``)."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, "status": self.status}


def check_content_length(value: str | None, limit: int) -> int | None:
    """The declared body length, refusing one over ``limit`` (413) or malformed (400)."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError as exc:
        raise ApiError(400, "bad_content_length", f"Content-Length {value[:40]!r} is not a number") from exc
    if length < 0:
        raise ApiError(400, "bad_content_length", "Content-Length is negative")
    if length > limit:
        raise ApiError(413, "body_too_large",
                       f"the request body has {length} bytes, over the limit of {limit} bytes "
                       f"({limit / MB:.0f} MB)")
    return length


class ClientGone(Exception):
    """The client disconnected before its request body had arrived (nothing to answer)."""


async def read_body(request: Any, limit: int, budget: Any = None) -> bytes:
    """The whole body of ``request`` in memory, at most ``limit`` bytes (413 beyond).

    ``budget`` (a :class:`serving.budget.Budget` of bytes) is charged with the declared
    length before reading, or chunk by chunk for a chunked body; the caller gives back
    ``len(result)`` (a refusal or disconnect gives back what was taken here).

    Raises:
        ApiError: 413 over ``limit``, 400 for a malformed length, 503 when ``budget`` is full.
        ClientGone: the client disconnected mid-body (logged here as one info line).
    """
    declared = check_content_length(request.headers.get("content-length"), limit)
    taken = 0
    if budget is not None and declared:
        budget.take(declared)
        taken = declared
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise ApiError(413, "body_too_large", f"the request body is over the limit of {limit} bytes")
            if budget is not None and size > taken:
                budget.take(size - taken)
                taken = size
            chunks.append(chunk)
    except ClientDisconnect as exc:
        if budget is not None:
            budget.give(taken)
        log.info("client disconnected after %d of %s body bytes; request dropped",
                 size, declared if declared is not None else "unknown")
        raise ClientGone() from exc
    except BaseException:
        if budget is not None:
            budget.give(taken)
        raise
    if budget is not None and taken > size:
        budget.give(taken - size)
    return b"".join(chunks)
