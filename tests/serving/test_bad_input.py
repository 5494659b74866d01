"""Against the running server: every kind of bad input gets a 4xx JSON error with a message,
odd-but-valid images are answered, and the server keeps serving afterwards."""

from __future__ import annotations

import io
import socket
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from PIL import Image
from tiny_faces import encode, face_image, face_layout

LANDMARKS = face_layout() * [0.4, -0.4] + 60.0  # a 120 px dot face, y down
BOX = ",".join(f"{v:.1f}" for v in np.r_[LANDMARKS.min(0), LANDMARKS.max(0)])
JPEG = encode(face_image(LANDMARKS))


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")  # uint16 (H, W) -> a 16-bit PNG
    return buf.getvalue()


def _big_png() -> bytes:
    buf = io.BytesIO()
    Image.new("L", (8000, 6300)).save(buf, format="PNG")  # 50.4 MP, ~50 kB
    return buf.getvalue()


BAD = {
    "non-image bytes": ({"image": ("a.jpg", b"certainly not an image", "image/jpeg")}, {}, 400, "bad_image"),
    "truncated jpeg": ({"image": ("t.jpg", JPEG[: len(JPEG) // 2], "image/jpeg")}, {}, 400, "bad_image"),
    "empty image part": ({"image": ("e.jpg", b"", "image/jpeg")}, {}, 400, "bad_image"),
    "missing field": ({"photo": ("a.jpg", JPEG, "image/jpeg")}, {}, 422, "missing_field"),
    "box outside the image": ({"image": ("a.jpg", JPEG, "image/jpeg")}, {"box": "500,500,600,600"}, 422,
                              "bad_box"),
    "box with 3 numbers": ({"image": ("a.jpg", JPEG, "image/jpeg")}, {"box": "1,2,3"}, 422, "bad_box"),
    "box not numbers": ({"image": ("a.jpg", JPEG, "image/jpeg")}, {"box": "a,b,c,d"}, 422, "bad_box"),
    "inverted box": ({"image": ("a.jpg", JPEG, "image/jpeg")}, {"box": "80,80,20,20"}, 422, "bad_box"),
    "nan box": ({"image": ("a.jpg", JPEG, "image/jpeg")}, {"box": "nan,0,10,10"}, 422, "bad_box"),
    "one-pixel image": ({"image": ("p.png", _png(np.zeros((1, 1, 3), np.uint8)), "image/png")}, {}, 422,
                        "image_too_small"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_gets_a_4xx_json_error_with_a_message(client: httpx.Client, case: str) -> None:
    files, data, status, code = BAD[case]
    r = client.post("/v1/align", files=files, data=data)
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and body["message"] and body["status"] == status


def test_an_image_over_the_pixel_limit_is_refused_from_its_header(client: httpx.Client) -> None:
    r = client.post("/v1/align", files={"image": ("big.png", _big_png(), "image/png")})
    assert r.status_code == 413 and r.json()["error"] == "too_many_pixels"
    assert "50.0 MP" in r.json()["message"]


def test_empty_body_and_non_multipart_bodies_are_refused(client: httpx.Client) -> None:
    empty = client.post("/v1/align", headers={"content-type": "multipart/form-data; boundary=x"})
    assert empty.status_code == 400 and empty.json()["error"] == "empty_body"
    as_json = client.post("/v1/align", json={"image": "abc"})
    assert as_json.status_code == 415 and "multipart/form-data" in as_json.json()["message"]
    unfinished = b'--x\r\nContent-Disposition: form-data; name="image"\r\n\r\nab'  # no closing boundary
    truncated = client.post("/v1/align", content=unfinished,
                            headers={"content-type": "multipart/form-data; boundary=x"})
    assert truncated.status_code == 400 and truncated.json()["error"] == "bad_multipart"


def test_a_body_over_the_size_limit_is_refused_before_it_is_sent(served: dict) -> None:
    url = urlparse(served["base"])
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        head = (f"POST /v1/align HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 20971521\r\n\r\n")
        s.sendall(head.encode() + b"--x\r\n")  # 20 MB + 1 declared, a few bytes sent
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b'"body_too_large"' in answer


@pytest.mark.parametrize("kind", ["16-bit png", "grayscale jpeg", "rgba png", "palette png"])
def test_unusual_but_valid_images_are_aligned(client: httpx.Client, kind: str) -> None:
    rgb = face_image(LANDMARKS)
    gray = rgb.mean(2).astype(np.uint8)
    payload = {
        "16-bit png": lambda: _png(gray.astype(np.uint16) * 257),
        "grayscale jpeg": lambda: encode(gray),
        "rgba png": lambda: _png(np.dstack([rgb, np.full(gray.shape, 200, np.uint8)])),
        "palette png": lambda: _palette(rgb),
    }[kind]()
    r = client.post("/v1/align", files={"image": ("f.png", payload, "image/png")}, data={"box": BOX})
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert len(face["landmarks"]) == 68
    assert np.abs(np.array(face["landmarks"]) - LANDMARKS).mean() < 2.0


def _palette(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).convert("P").save(buf, format="PNG")
    return buf.getvalue()


def test_unknown_routes_and_methods_answer_json(client: httpx.Client) -> None:
    assert client.get("/nope").status_code == 404 and "message" in client.get("/nope").json()
    assert client.get("/v1/align").status_code == 405


def test_the_server_survives_all_of_it(served: dict, client: httpx.Client) -> None:
    for files, data, _, _ in BAD.values():
        client.post("/v1/align", files=files, data=data)
    assert served["proc"].poll() is None
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.post("/v1/align", files={"image": ("a.jpg", JPEG, "image/jpeg")},
                       data={"box": BOX}).status_code == 200
