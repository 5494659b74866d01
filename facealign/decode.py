"""Decode untrusted encoded images (uploads, registry-model inputs) into RGB arrays.

Everything happens in memory: bytes in, ``(H, W, 3)`` uint8 RGB out, with the stored
pixel grid (no EXIF rotation), as :func:`facealign.data.readers.load_image` returns it.
The pixel count is checked from the header before any pixel is decoded.  Each refusal
raises :class:`ImageError` with an HTTP-style status (400 unreadable, 413 too large) and a
message a user can act on.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

DEFAULT_MAX_PIXELS = 50_000_000


class ImageError(ValueError):
    """An input that is not a usable image; ``status`` is 400 (unreadable) or 413 (too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB; 16/32-bit integer and float images are rescaled."""
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode.startswith("I;16"):
            arr = arr / 257.0  # 0..65535 -> 0..255
        elif img.mode == "I":
            arr = arr / 257.0 if arr.max(initial=0) > 255 else arr
        elif arr.size and arr.max() <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, LA, P, RGBA, CMYK, YCbCr...; alpha is dropped
    return np.asarray(img, dtype=np.uint8)


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded bytes (jpg, png incl. 16-bit, bmp, ppm, tiff, webp, gif...) -> (H, W, 3) uint8 RGB.

    Raises:
        ImageError: empty or non-image bytes, a truncated or corrupt file (400), or more
            than ``max_pixels`` pixels (413, refused from the header, before decoding).
    """
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:  # over twice PIL's own limit
        raise ImageError(f"the image has too many pixels ({exc})", status=413) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError("not a readable image (unknown or unsupported format)") from exc
    except Exception as exc:  # noqa: BLE001 - any undecodable input is the same error to users
        raise ImageError(f"not a readable image ({type(exc).__name__}: {exc})") from exc
    with img:
        width, height = img.size
        if width < 1 or height < 1:
            raise ImageError(f"the image has no pixels ({width}x{height})")
        if width * height > max_pixels:
            raise ImageError(
                f"the image has {width}x{height} = {width * height / 1e6:.1f} MP, "
                f"over the limit of {max_pixels / 1e6:.1f} MP", status=413)
        try:
            img.load()
            return _to_uint8(img)
        except Exception as exc:  # noqa: BLE001 - truncated / corrupt data
            raise ImageError(f"the image is truncated or corrupt ({type(exc).__name__}: {exc})") from exc
