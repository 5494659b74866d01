"""Memory is bounded across requests: a request whose decoded pixels or body bytes do not fit
the in-flight budgets is answered 503 with Retry-After at once, and at most ``serve.workers``
requests decode and align at the same time.  The app runs in-process over an aligner that
waits at a gate, so what is in flight is known exactly."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest
from tiny_faces import encode, face_image, face_layout, mean_shape_dir

from facealign.config import ConfigError
from facealign.registry.info import ModelRef
from facealign.registry.loading import load_aligner
from serving.app import create_app
from serving.budget import Budget
from serving.holder import ModelHolder
from serving.limits import ApiError, ServeSettings

LANDMARKS = face_layout() * [0.4, -0.4] + 60.0
BOX = ",".join(f"{v:.1f}" for v in np.r_[LANDMARKS.min(0), LANDMARKS.max(0)])
PNG = encode(face_image(LANDMARKS), "PNG")  # 120 x 120 = 14 400 pixels


class GatedAligner:
    """A real aligner whose ``align`` waits at a gate and counts how many run at once."""

    def __init__(self, aligner, hold_s: float = 0.0) -> None:
        self.aligner, self.hold_s = aligner, hold_s
        self.name = aligner.name
        self.gate, self.entered = threading.Event(), threading.Event()
        self.running = self.most = 0
        self.lock = threading.Lock()

    def align(self, images, boxes):
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        self.entered.set()
        try:
            if not self.hold_s:
                self.gate.wait(30)
            time.sleep(self.hold_s)
            return self.aligner.align(images, boxes)
        finally:
            with self.lock:
                self.running -= 1


@pytest.fixture(scope="module")
def mean_shape(tmp_path_factory: pytest.TempPathFactory):
    return load_aligner(str(mean_shape_dir(tmp_path_factory.mktemp("gated") / "aligner")))


def _app(aligner, **settings):
    holder = ModelHolder("gated", 0, resolver=lambda spec: ModelRef(spec, tags={"family": "mean_shape"}),
                         loader=lambda ref: aligner)
    holder.load_initial()
    return create_app(holder, ServeSettings(detect=False, **settings))


def _post(base: str, payload: bytes = PNG) -> httpx.Response:
    return httpx.post(f"{base}/v1/align", files={"image": ("f.png", payload, "image/png")},
                      data={"box": BOX}, timeout=60)


def test_a_request_whose_pixels_do_not_fit_the_budget_gets_503_with_retry_after(mean_shape,
                                                                                serve_in_thread) -> None:
    gated = GatedAligner(mean_shape)
    app = _app(gated, inflight_pixels=20_000, max_decode_pixels=20_000, retry_after_s=3)
    with serve_in_thread(app) as base, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, base)
        assert gated.entered.wait(30)
        refused = _post(base)  # 14 400 + 14 400 pixels > 20 000
        gated.gate.set()
        assert first.result().status_code == 200
        after = _post(base)
    assert refused.status_code == 503 and refused.headers["retry-after"] == "3"
    assert refused.json()["error"] == "busy" and "decoded pixels" in refused.json()["message"]
    assert after.status_code == 200 and app.state.budgets["pixels"].used == 0


def test_a_body_that_does_not_fit_the_byte_budget_gets_503(mean_shape, serve_in_thread) -> None:
    gated = GatedAligner(mean_shape)
    noise = np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)
    big = encode(noise, "PNG")  # ~120 kB that PNG cannot compress
    limit = len(big) + 1000  # the multipart body is a few hundred bytes over its image
    app = _app(gated, max_body_bytes=limit, inflight_body_bytes=limit + 100)  # not both at once
    with serve_in_thread(app) as base, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, base, big)
        assert gated.entered.wait(30)
        refused = _post(base)
        gated.gate.set()
        assert first.result().status_code == 200
    assert refused.status_code == 503 and "request bytes" in refused.json()["message"]
    assert "retry-after" in refused.headers and app.state.budgets["bytes"].used == 0


def test_at_most_serve_workers_requests_decode_and_align_at_once(mean_shape, serve_in_thread) -> None:
    gated = GatedAligner(mean_shape, hold_s=0.3)
    with serve_in_thread(_app(gated, workers=2)) as base, ThreadPoolExecutor(6) as pool:
        statuses = [r.status_code for r in pool.map(lambda _: _post(base), range(6))]
    assert statuses == [200] * 6 and gated.most == 2


def test_a_budget_gives_back_what_it_took_and_refuses_beyond_its_limit() -> None:
    budget = Budget("decoded pixels", 100, "pixels", retry_after_s=2)
    with budget.hold(60):
        with pytest.raises(ApiError) as exc:
            budget.take(41)
        budget.take(40)
        budget.give(40)
    assert exc.value.status == 503 and exc.value.headers == {"Retry-After": "2"} and budget.used == 0


@pytest.mark.parametrize(("section", "message"), [
    ({"workers": 0}, "serve.workers: 0 is not a positive integer"),
    ({"max_decode_pixels": 10, "inflight_pixels": 5}, "over serve.inflight_pixels"),
    ({"max_body_mb": 20, "inflight_body_mb": 10}, "serve.max_body_mb"),
    ({"retry_after_s": "soon"}, "serve.retry_after_s"),
    ({"malloc_mmap_threshold_kb": -1}, "serve.malloc_mmap_threshold_kb"),
    ({"malloc_arena_max": 0}, "serve.malloc_arena_max"),
])
def test_the_budget_settings_are_checked_naming_the_parameter(section: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ServeSettings.from_section(section)


def test_the_default_budgets_fit_the_defaults(tmp_path: Path) -> None:
    s = ServeSettings()
    assert s.max_decode_pixels <= s.inflight_pixels and s.max_body_bytes <= s.inflight_body_bytes
