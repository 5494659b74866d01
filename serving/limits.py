"""The service's limits and the errors it answers with (every refusal is a 4xx JSON body).

The request body is refused from its ``Content-Length`` before a byte of it is read, and
counted while it streams in when the client sends no length (chunked); the pixel limit is
checked from the image header before decoding (:mod:`facealign.decode`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facealign.config import section_fields

MB = 1024 * 1024
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
    """

    max_body_bytes: int = 20 * MB
    max_pixels: int = 50_000_000
    min_image_side: int = 8
    poll_interval_s: float = 30.0
    detect: bool = True

    @classmethod
    def from_section(cls, section: dict[str, Any] | None) -> ServeSettings:
        """From ``cfg["serve"]`` (``max_body_mb`` in MiB becomes ``max_body_bytes``).

        ``threads_per_request`` is accepted (``facealign serve`` reads it); any other
        unknown key is a :class:`facealign.config.ConfigError` naming it.
        """
        section = dict(section or {})
        if "max_body_mb" in section:
            section["max_body_bytes"] = int(float(section.pop("max_body_mb")) * MB)
        return cls(**section_fields(cls, section, "serve", extra=SECTION_EXTRAS))


class ApiError(Exception):
    """A refusal: HTTP ``status`` (4xx), a short ``code`` and a message for the user."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

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


async def read_body(request: Any, limit: int) -> bytes:
    """The whole body of ``request`` in memory, at most ``limit`` bytes (413 beyond)."""
    check_content_length(request.headers.get("content-length"), limit)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "body_too_large", f"the request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
