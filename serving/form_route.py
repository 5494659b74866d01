"""A FastAPI route whose multipart body is limited and parsed in memory before FastAPI sees it.

FastAPI's ``UploadFile`` / ``Form`` parameters come from ``request.form()``, which would
read an unbounded body and spool file parts over 1 MB to temporary files.
:class:`LimitedFormRoute` instead reads the body under ``serve.max_body_mb`` (413 from
``Content-Length`` before reading, or while it streams) and the in-flight byte budget
(503), parses it with :func:`serving.multipart.parse_form` (415 / 400), and hands FastAPI
a :class:`FormRequest` whose ``form()`` returns those parts: ``image`` as an
``UploadFile`` over the bytes in memory, other fields as text.  The budget is given back
once the response is built.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response, UploadFile
from fastapi.routing import APIRoute
from starlette.datastructures import FormData, Headers

from serving.budget import Budget
from serving.limits import ApiError, read_body
from serving.multipart import Part, parse_form

FILE_FIELDS = ("image",)  # parts handed to FastAPI as UploadFile
TEXT_FIELDS = ("box",)  # parts handed to FastAPI as text; parts of any other name are ignored


class FormRequest(Request):
    """A request whose form was parsed already (``form()`` takes no further limits)."""

    def __init__(self, request: Request, form: FormData) -> None:
        super().__init__(request.scope, request.receive)
        self._parsed = form

    async def form(self, **_: Any) -> FormData:  # type: ignore[override]
        return self._parsed


def _text(part: Part) -> str:
    try:
        return part.data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(422, f"bad_{part.name}", f"field {part.name!r} is not UTF-8 text") from exc


def to_form_data(parts: dict[str, Part]) -> FormData:
    """Parsed parts -> Starlette ``FormData``: :data:`FILE_FIELDS` as files, :data:`TEXT_FIELDS`
    as text (UTF-8, else 422), other parts left out."""
    items: list[tuple[str, str | UploadFile]] = []
    for name, part in parts.items():
        if name in FILE_FIELDS:
            headers = Headers({"content-type": part.content_type} if part.content_type else {})
            items.append((name, UploadFile(io.BytesIO(part.data), size=len(part.data),
                                           filename=part.filename, headers=headers)))
        elif name in TEXT_FIELDS:
            items.append((name, _text(part)))
    return FormData(items)


def limited_form_route(max_body_bytes: int, body_budget: Budget) -> type[APIRoute]:
    """An ``APIRoute`` class that limits and parses the multipart body (see the module doc)."""

    class LimitedFormRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def limited(request: Request) -> Response:
                body = await read_body(request, max_body_bytes, body_budget)
                size = len(body)
                try:
                    if not body:
                        raise ApiError(400, "empty_body",
                                       "the request body is empty; send multipart field 'image'")
                    form = to_form_data(parse_form(body, request.headers.get("content-type")))
                    del body  # the parts hold their own copies
                    return await handler(FormRequest(request, form))
                finally:
                    body_budget.give(size)

            return limited

    return LimitedFormRoute
