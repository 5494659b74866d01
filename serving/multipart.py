"""In-memory ``multipart/form-data`` parsing (nothing is spooled to disk).

Starlette's form parser writes file parts over 1 MB to temporary files; the service keeps
every request in memory instead (its size is already bounded by the body limit), parsing
the body with ``python_multipart``'s streaming parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from serving.limits import ApiError

MAX_PARTS = 16


@dataclass
class Part:
    """One form field: its ``name``, the client's ``filename`` (None for plain fields), data."""

    name: str = ""
    filename: str | None = None
    content_type: str = ""
    chunks: list[bytes] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def _disposition(part: Part) -> None:
    kind, params = parse_options_header(part.headers.get("content-disposition", ""))
    if kind != b"form-data" or b"name" not in params:
        raise ApiError(400, "bad_multipart", "a form part lacks Content-Disposition: form-data; name=...")
    part.name = params[b"name"].decode("utf-8", "replace")
    if b"filename" in params:
        part.filename = params[b"filename"].decode("utf-8", "replace")
    part.content_type = part.headers.get("content-type", "")


def parse_form(body: bytes, content_type: str | None) -> dict[str, Part]:
    """The parts of a ``multipart/form-data`` body by field name (the first of duplicates).

    Raises:
        ApiError: 415 for another content type, 400 for a malformed or truncated body.
    """
    kind, params = parse_options_header(content_type or "")
    if kind != b"multipart/form-data":
        got = kind.decode("latin-1") or "no type"
        raise ApiError(415, "unsupported_media_type",
                       f"send multipart/form-data with a field 'image', not {got}")
    boundary = params.get(b"boundary")
    if not boundary:
        raise ApiError(400, "bad_multipart", "the multipart Content-Type has no boundary")
    parts: list[Part] = []
    state = {"field": b"", "value": b"", "ended": False}

    def on_part_begin() -> None:
        if len(parts) >= MAX_PARTS:
            raise ApiError(400, "bad_multipart", f"more than {MAX_PARTS} form parts")
        parts.append(Part())

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["value"] += data[start:end]

    def on_header_end() -> None:
        key = state["field"].decode("latin-1").strip().lower()
        parts[-1].headers[key] = state["value"].decode("latin-1").strip()
        state["field"], state["value"] = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        parts[-1].chunks.append(data[start:end])

    def on_end() -> None:
        state["ended"] = True

    callbacks = {"on_part_begin": on_part_begin, "on_header_field": on_header_field,
                 "on_header_value": on_header_value, "on_header_end": on_header_end,
                 "on_headers_finished": lambda: _disposition(parts[-1]),
                 "on_part_data": on_part_data, "on_end": on_end}
    try:
        parser = MultipartParser(boundary, callbacks)  # type: ignore[arg-type]
        parser.write(body)
        parser.finalize()
    except MultipartParseError as exc:
        raise ApiError(400, "bad_multipart", f"malformed multipart body ({exc})") from exc
    if not state["ended"]:
        raise ApiError(400, "bad_multipart", "the multipart body is truncated (no closing boundary)")
    out: dict[str, Part] = {}
    for part in parts:
        out.setdefault(part.name, part)
    return out
