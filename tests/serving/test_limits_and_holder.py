"""Body limits while streaming, in-memory multipart parsing, and the model holder's swaps."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from facealign.config import ConfigError
from facealign.registry.info import ModelRef
from serving.holder import ModelHolder
from serving.limits import ApiError, ServeSettings, check_content_length, read_body
from serving.multipart import parse_form


class _Request:
    """A stand-in for a Starlette request: headers and a chunked body stream."""

    def __init__(self, chunks: list[bytes], headers: dict | None = None) -> None:
        self.headers, self._chunks = headers or {}, chunks

    async def stream(self):
        for chunk in self._chunks:
            yield chunk


def test_a_chunked_body_is_cut_off_as_soon_as_it_passes_the_limit() -> None:
    assert asyncio.run(read_body(_Request([b"a" * 10] * 3), limit=30)) == b"a" * 30
    with pytest.raises(ApiError) as exc:
        asyncio.run(read_body(_Request([b"a" * 10] * 4), limit=30))
    assert exc.value.status == 413


@pytest.mark.parametrize(("value", "status"), [("31", 413), ("-1", 400), ("lots", 400)])
def test_a_declared_length_is_checked_before_reading(value: str, status: int) -> None:
    with pytest.raises(ApiError) as exc:
        check_content_length(value, 30)
    assert exc.value.status == status


def test_multipart_fields_are_parsed_in_memory_with_file_names() -> None:
    body = (b'--b\r\nContent-Disposition: form-data; name="image"; filename="x.png"\r\n'
            b"Content-Type: image/png\r\n\r\n\x89PNG\r\n--b\r\n"
            b'Content-Disposition: form-data; name="box"\r\n\r\n1,2,3,4\r\n--b--\r\n')
    form = parse_form(body, "multipart/form-data; boundary=b")
    assert form["image"].data == b"\x89PNG" and form["image"].filename == "x.png"
    assert form["box"].data == b"1,2,3,4" and form["box"].filename is None


def test_settings_read_the_serve_section_with_megabytes() -> None:
    s = ServeSettings.from_section({"max_body_mb": 2, "max_pixels": 10, "poll_interval_s": 1,
                                    "threads_per_request": 2})
    assert (s.max_body_bytes, s.max_pixels, s.poll_interval_s) == (2 * 1024 * 1024, 10, 1)
    with pytest.raises(ConfigError, match="serve: unknown parameter 'other'"):
        ServeSettings.from_section({"max_body_mb": 2, "other": 1})


class _Registry:
    """A fake alias: ``version`` can be moved; loading version "bad" fails; loads are slow."""

    def __init__(self) -> None:
        self.version = "1"

    def resolve(self, spec: str) -> ModelRef:
        return ModelRef(spec, "m", "champion", self.version, {"family": "fake"})

    def load(self, ref: ModelRef) -> str:
        time.sleep(0.05)
        if ref.version == "bad":
            raise RuntimeError("corrupt weights")
        return f"aligner-{ref.version}"


def test_the_holder_swaps_in_a_moved_alias_and_keeps_the_old_model_when_a_load_fails() -> None:
    registry = _Registry()
    holder = ModelHolder("models:/m@champion", 0, resolver=registry.resolve, loader=registry.load)
    assert holder.load_initial().aligner == "aligner-1"
    assert holder.check() is False
    registry.version = "bad"
    assert holder.check() is False and "corrupt weights" in holder.last_error
    assert holder.current().aligner == "aligner-1"
    registry.version = "2"
    assert holder.check() is True and holder.current().ref.version == "2" and holder.last_error is None


def test_readers_always_see_a_whole_model_while_the_poller_swaps() -> None:
    registry = _Registry()
    holder = ModelHolder("models:/m@champion", 0.01, resolver=registry.resolve, loader=registry.load)
    holder.load_initial()
    holder.start()
    seen, torn, stop = set(), [], threading.Event()

    def read() -> None:
        while not stop.is_set():
            loaded = holder.current()
            if loaded.aligner != f"aligner-{loaded.ref.version}":
                torn.append(loaded)
            seen.add(loaded.ref.version)

    readers = [threading.Thread(target=read) for _ in range(4)]
    for t in readers:
        t.start()
    for v in ("2", "3"):
        registry.version = v
        deadline = time.monotonic() + 5
        while holder.current().ref.version != v and time.monotonic() < deadline:
            time.sleep(0.01)
    deadline = time.monotonic() + 5  # on a busy machine a reader may not have run since the swap
    while "3" not in seen and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    for t in readers:
        t.join()
    holder.stop()
    assert not torn and holder.current().ref.version == "3" and {"1", "3"} <= seen
