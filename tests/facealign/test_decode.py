"""Decoding untrusted image bytes: short PNG data is refused, large JPEGs are decoded reduced
with their pixel grid mapped back exactly, other large formats are refused naming the limit."""

from __future__ import annotations

import io
import zlib

import numpy as np
import pytest
from PIL import Image

from facealign.decode import DecodePlan, ImageError, decode, decode_image, plan_decode


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def _png_with_rows(width: int, height: int, rows: int) -> bytes:
    """A structurally valid RGB PNG declaring ``height`` rows whose data holds ``rows``."""
    raw = (b"\x00" + bytes(range(256)) * (3 * width // 256) + bytes(3 * width % 256)) * rows
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    idat = _chunk(b"IDAT", zlib.compress(raw))
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + idat + _chunk(b"IEND", b"")


def _encode(array: np.ndarray, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def test_a_png_whose_data_stops_short_of_its_rows_is_refused() -> None:
    assert decode_image(_png_with_rows(64, 48, 48)).shape == (48, 64, 3)
    with pytest.raises(ImageError, match="truncated") as exc:
        decode_image(_png_with_rows(64, 48, 20))
    assert exc.value.status == 400


@pytest.mark.parametrize("kind", ["gray", "rgba", "palette", "16-bit", "interlaced"])
def test_complete_pngs_of_every_layout_pass_the_row_check(kind: str) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (37, 53, 3), dtype=np.uint8)
    image = {"gray": lambda: Image.fromarray(rgb[..., 0]),
             "rgba": lambda: Image.fromarray(np.dstack([rgb, rgb[..., :1]])),
             "palette": lambda: Image.fromarray(rgb).convert("P"),
             "16-bit": lambda: Image.fromarray(rgb[..., 0].astype(np.uint16) * 257),
             "interlaced": lambda: Image.fromarray(rgb)}[kind]()
    buf = io.BytesIO()
    image.save(buf, format="PNG", **({"interlace": 1} if kind == "interlaced" else {}))
    out = decode_image(buf.getvalue())
    assert out.shape == (37, 53, 3) and out.dtype == np.uint8
    if kind == "16-bit":  # v * 257 -> v exactly
        assert np.array_equal(out[..., 0], rgb[..., 0])


def test_a_large_jpeg_is_decoded_reduced_and_its_grid_maps_back() -> None:
    yy, xx = np.mgrid[0:1200, 0:1600]
    ramp = np.dstack([xx * 255 // 1599, yy * 255 // 1199, np.full_like(xx, 90)]).astype(np.uint8)
    jpeg = _encode(ramp, "JPEG", quality=95)
    assert plan_decode(jpeg, max_pixels=5_000_000, max_decode_pixels=500_000).factor == 2
    plan = plan_decode(jpeg, max_pixels=5_000_000, max_decode_pixels=200_000)
    assert (plan.factor, plan.pixels) == (4, 400 * 300)
    small = decode(jpeg, plan)
    assert small.shape == (300, 400, 3)
    # decoded pixel (row i, col j) averages original pixels 4i..4i+3, 4j..4j+3
    x, y = plan.to_original(np.array([[100.0, 50.0]]))[0]
    assert (x, y) == (401.5, 201.5)
    assert abs(int(small[50, 100, 0]) - ramp[201:203, 401:403, 0].mean()) < 3
    assert np.allclose(plan.to_decoded(plan.to_original(np.array([12.5, 7.0]))), [12.5, 7.0])


def test_a_large_png_is_refused_naming_the_decode_limit() -> None:
    png = _encode(np.zeros((1200, 1600), np.uint8), "PNG")
    with pytest.raises(ImageError, match=r"decode limit of 0.5 MP \(serve.max_decode_pixels\)") as exc:
        plan_decode(png, max_pixels=5_000_000, max_decode_pixels=500_000)
    assert exc.value.status == 413
    assert plan_decode(png, max_pixels=5_000_000) == DecodePlan(1600, 1200, "PNG", 1)


def test_the_header_limit_comes_first_and_names_its_megapixels() -> None:
    jpeg = _encode(np.zeros((1200, 1600, 3), np.uint8), "JPEG")
    with pytest.raises(ImageError, match="over the limit of 1.0 MP") as exc:
        plan_decode(jpeg, max_pixels=1_000_000, max_decode_pixels=500_000)
    assert exc.value.status == 413
