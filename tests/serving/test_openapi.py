"""FastAPI as people use it: ``/docs`` renders in headless Chromium with every host but the
server unreachable, the OpenAPI document types the answers and documents each refusal's
body, and the page and ``/v1/model`` lead with the real-face NME, naming its data."""

from __future__ import annotations

from pathlib import Path

import cdp
import httpx
import pytest
from cdp import Browser, find_chromium

from facealign.registry.info import ModelRef
from serving.app import create_app
from serving.holder import ModelHolder

OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"  # no name resolves: no CDN
TAGS = {"family": "sift_sdm", "nme_mean": "4.07", "test_data_hash": "0123456789abcdef",
        "real_nme_mean": "5.14", "real_data_hash": "fedcba9876543210"}


@pytest.fixture
def offline_chromium(monkeypatch: pytest.MonkeyPatch) -> str:
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium not installed (Debian package `chromium`; .ci/run installs it)")
    monkeypatch.setattr(cdp, "FLAGS", [*cdp.FLAGS, OFFLINE])
    return path


def _open(browser: Browser, url: str, ready: str) -> str:
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.send("Page.navigate", {"url": url}, session)
    browser.wait_for(session, ready, timeout_s=60)
    return session


def test_docs_render_offline_from_the_installed_assets(offline_chromium: str, served: dict,
                                                       tmp_path: Path) -> None:
    with Browser(offline_chromium, tmp_path / "profile") as browser:
        page = _open(browser, served["base"] + "/docs",
                     "document.querySelectorAll('.swagger-ui .opblock').length >= 4")
        title = browser.evaluate(page, "document.querySelector('.swagger-ui .info .title').textContent")
        paths = browser.evaluate(page, "[...document.querySelectorAll('.opblock-summary-path')]"
                                       ".map((e) => e.textContent.trim())")
        hosts = browser.evaluate(page, "[...new Set(performance.getEntriesByType('resource')"
                                       ".map((e) => new URL(e.name).host))]")
    assert title.startswith("facealign")
    assert {"/v1/align", "/v1/model", "/healthz", "/v1/reload"} <= set(paths)
    assert hosts == [served["base"].removeprefix("http://")]


def test_openapi_types_the_answer_and_documents_every_refusal(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    align = spec["paths"]["/v1/align"]["post"]
    form = align["requestBody"]["content"]["multipart/form-data"]["schema"]["$ref"].rsplit("/", 1)[-1]
    fields = spec["components"]["schemas"][form]
    image = fields["properties"]["image"]
    assert fields["required"] == ["image"] and image["type"] == "string"
    assert image.get("format") == "binary" or "contentMediaType" in image  # OpenAPI 3.0 / 3.1 spelling
    assert "box" in fields["properties"]
    ok = align["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok.endswith("/AlignResponse")
    for status in ("400", "413", "415", "422", "503"):
        schema = align["responses"][status]["content"]["application/json"]["schema"]["$ref"]
        assert schema.endswith("/ErrorBody"), status
    error = spec["components"]["schemas"]["ErrorBody"]
    assert set(error["required"]) == {"error", "message", "status"}
    face = spec["components"]["schemas"]["Face"]["properties"]
    assert set(face) == {"box", "landmarks", "visible", "pose"}
    assert spec["paths"]["/v1/model"]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/ModelInfo")


def _app_with_tags(tags: dict[str, str]):
    holder = ModelHolder("models:/face-alignment/7", 0, loader=lambda ref: object(),
                         resolver=lambda spec: ModelRef(spec, "face-alignment", None, "7", tags))
    holder.load_initial()
    return create_app(holder)


def test_model_info_leads_with_the_real_face_nme_and_names_its_data(serve_in_thread) -> None:
    with serve_in_thread(_app_with_tags(TAGS)) as base:
        real = httpx.get(f"{base}/v1/model", timeout=10).json()
    unmeasured = {k: TAGS[k] for k in ("family", "nme_mean", "test_data_hash")}
    with serve_in_thread(_app_with_tags(unmeasured)) as base:
        synthetic = httpx.get(f"{base}/v1/model", timeout=10).json()
    assert (real["real_nme_mean"], real["nme_mean"]) == (5.14, 4.07)
    assert real["real_data_hash"] == TAGS["real_data_hash"]
    assert real["headline_nme"] == {"value": 5.14, "data": "real faces", "data_hash": TAGS["real_data_hash"],
                                    "label": "real-face NME 5.14 % (real data fedcba98)"}
    assert synthetic["real_nme_mean"] is None
    assert synthetic["headline_nme"]["label"] == "synthetic test-set NME 4.07 % (test data 01234567)"


def test_the_page_shows_the_real_face_nme_with_its_data(offline_chromium: str, serve_in_thread,
                                                       tmp_path: Path) -> None:
    with serve_in_thread(_app_with_tags(TAGS)) as base, Browser(offline_chromium, tmp_path / "p") as browser:
        page = _open(browser, base + "/", "document.getElementById('model').textContent.includes('NME')")
        text = browser.evaluate(page, "document.getElementById('model').textContent")
    assert "real-face NME 5.14 % (real data fedcba98)" in text and "4.07" not in text
