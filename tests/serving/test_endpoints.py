"""Against the running server: the documented endpoints and the prediction contract."""

from __future__ import annotations

import httpx
import numpy as np
from tiny_faces import encode, face_image, face_layout


def test_healthz_reports_ready(client: httpx.Client) -> None:
    body = client.get("/healthz").json()
    assert body["status"] == "ok" and body["ready"] is True


def test_model_info_names_the_model(client: httpx.Client) -> None:
    body = client.get("/v1/model").json()
    assert body["family"] == "mean_shape"
    assert {"name", "version", "alias", "nme_mean", "test_data_hash"} <= set(body)


def test_align_answers_the_prediction_contract_in_original_pixels(client: httpx.Client) -> None:
    lm = face_layout() * [0.8, -0.8] + [150.0, 110.0]  # a face off-centre in a 300 x 240 image
    image = np.full((240, 300, 3), 90, np.uint8)
    image[:, :] = face_image(lm, 300)[:240]
    box = np.r_[lm.min(0), lm.max(0)]
    r = client.post("/v1/align", files={"image": ("face.jpg", encode(image), "image/jpeg")},
                    data={"box": ",".join(map(str, box))})
    assert r.status_code == 200
    body = r.json()
    assert body["image"] == "face.jpg" and len(body["faces"]) == 1
    face = body["faces"][0]
    assert np.allclose(face["box"], box, atol=0.01)
    assert np.array(face["landmarks"]).shape == (68, 2) and len(face["visible"]) == 68
    assert set(face["pose"]) == {"yaw", "pitch", "roll"}
    assert np.abs(np.array(face["landmarks"]) - lm).mean() < 1.5


def test_without_a_box_the_service_still_answers(client: httpx.Client) -> None:
    jpeg = encode(face_image(face_layout() * [0.4, -0.4] + 60))
    r = client.post("/v1/align", files={"image": ("f.jpg", jpeg, "image/jpeg")})
    assert r.status_code == 200 and len(r.json()["faces"]) >= 1


def test_openapi_documents_the_upload_and_the_page_is_served(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    assert "multipart/form-data" in spec["paths"]["/v1/align"]["post"]["requestBody"]["content"]
    assert {"/healthz", "/v1/model", "/v1/reload"} <= set(spec["paths"])
    assert client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'type="file"' in page.text and "/v1/align" in page.text


def test_reload_of_a_directory_model_changes_nothing(client: httpx.Client) -> None:
    body = client.post("/v1/reload").json()
    assert body["changed"] is False and body["last_reload_error"] is None
