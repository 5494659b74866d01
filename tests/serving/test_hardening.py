"""Against real server processes: an image that would cost too much memory is refused or
decoded reduced, short PNG data and non-ASCII box numbers are 400s, and a client that
disconnects mid-body costs one info line in the log, not a traceback."""

from __future__ import annotations

import io
import socket
import time
import zlib
from pathlib import Path
from urllib.parse import urlparse

import httpx
import numpy as np
import pytest
from PIL import Image
from server_proc import write_params
from tiny_faces import encode, face_image, face_layout, mean_shape_dir

from serving.process import start_server, stop_server

LANDMARKS = face_layout() * [0.4, -0.4] + 60.0  # a 120 px dot face, y down
BOX = np.r_[LANDMARKS.min(0), LANDMARKS.max(0)]
JPEG = encode(face_image(LANDMARKS))


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def _png(width: int, height: int, rows: int) -> bytes:
    """An RGB PNG of zero pixels declaring ``height`` rows whose data holds ``rows``."""
    raw = zlib.compress((b"\x00" + bytes(3 * width)) * rows, 9)
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", raw) + _chunk(b"IEND", b"")


def test_a_7000_px_png_of_a_few_hundred_kb_is_refused_naming_the_decode_limit(client: httpx.Client) -> None:
    huge = _png(7000, 7000, 7000)  # 49 MP: under serve.max_pixels, ~150 MB once decoded
    assert len(huge) < 500_000
    r = client.post("/v1/align", files={"image": ("huge.png", huge, "image/png")})
    assert r.status_code == 413 and r.json()["error"] == "too_many_pixels"
    assert "serve.max_decode_pixels" in r.json()["message"] and "24.0 MP" in r.json()["message"]


def test_a_large_jpeg_is_decoded_reduced_and_answered_in_original_pixels(client: httpx.Client) -> None:
    scale = 42  # 120 px -> 5040 px: 25.4 MP, over the 24 MP decode limit, decoded at 1/2
    small = Image.fromarray(face_image(LANDMARKS))
    big = small.resize((120 * scale, 120 * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=90)
    box = (BOX + 0.5) * scale - 0.5  # pixel centres of the upscaled image
    r = client.post("/v1/align", files={"image": ("big.jpg", buf.getvalue(), "image/jpeg")},
                    data={"box": ",".join(f"{v:.2f}" for v in box)})
    assert r.status_code == 200, r.text
    face = r.json()["faces"][0]
    assert np.allclose(face["box"], box, atol=0.05)
    truth = (LANDMARKS + 0.5) * scale - 0.5
    assert np.abs(np.array(face["landmarks"]) - truth).mean() < 2.0 * scale


def test_a_png_whose_data_stops_short_of_its_rows_is_400(client: httpx.Client) -> None:
    r = client.post("/v1/align", files={"image": ("short.png", _png(120, 120, 50), "image/png")},
                    data={"box": ",".join(map(str, BOX))})
    assert r.status_code == 400 and r.json()["error"] == "bad_image" and "truncated" in r.json()["message"]


@pytest.mark.parametrize("box", ["2_0,2_0,100,100", "２０,２０,１００,１００", "20,20,100,1٠٠"])
def test_box_numbers_must_be_ascii_decimals(client: httpx.Client, box: str) -> None:
    r = client.post("/v1/align", files={"image": ("a.jpg", JPEG, "image/jpeg")}, data={"box": box})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "bad_box" and "'box'" in r.json()["message"]
    assert "ASCII decimal" in r.json()["message"]


@pytest.fixture(scope="module")
def logged_server(tmp_path_factory: pytest.TempPathFactory):
    """A server at log level info whose log file the test reads."""
    folder = tmp_path_factory.mktemp("serve-logged")
    aligner = mean_shape_dir(folder / "aligner")
    params = write_params(folder, f"sqlite:///{folder / 'mlflow.db'}")
    log_path = folder / "serve.log"
    proc, base = start_server(str(aligner), params, folder, log_path=log_path, log_level="info")
    yield base, log_path
    stop_server(proc)


def _disconnect_mid_body(base: str) -> None:
    url = urlparse(base)
    with socket.create_connection((url.hostname, url.port), timeout=30) as s:
        head = (f"POST /v1/align HTTP/1.1\r\nHost: {url.netloc}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\nContent-Length: 100000\r\n\r\n")
        part = b'--x\r\nContent-Disposition: form-data; name="image"\r\n\r\n'
        s.sendall(head.encode() + part + JPEG[:2000])
        time.sleep(0.2)


def test_a_client_that_disconnects_mid_body_is_one_info_line(logged_server: tuple[str, Path]) -> None:
    base, log_path = logged_server
    _disconnect_mid_body(base)
    deadline = time.monotonic() + 20
    while "disconnected" not in log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # anything else the server would log about it
    log = log_path.read_text()
    lines = [line for line in log.splitlines() if "disconnect" in line.lower()]
    assert len(lines) == 1 and " INFO " in lines[0], log[-3000:]
    assert "Traceback" not in log and "internal error" not in log and "Exception" not in log
    assert httpx.get(f"{base}/healthz", timeout=10).json()["status"] == "ok"
