"""Decode untrusted encoded images (uploads, registry-model inputs) into RGB arrays.

Everything happens in memory: bytes in, ``(H, W, 3)`` uint8 RGB out, with the stored
pixel grid (no EXIF rotation), as :func:`facealign.data.readers.load_image` returns it.
The pixel count is checked from the header before any pixel is decoded
(:func:`plan_decode`); a JPEG over the decode limit is decoded reduced by 2, 4 or 8 in
the DCT (libjpeg's scaled decoding, PIL's draft mode), any other format over it is
refused.  Each refusal raises :class:`ImageError` with an HTTP-style status (400
unreadable, 413 too large) and a message a user can act on, naming the limit.

A reduced decode by ``factor`` k maps decoded pixel centre ``x_r`` to original pixel
``k * x_r + (k - 1) / 2`` (each decoded pixel averages a k x k block), see
:meth:`DecodePlan.to_original`.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from PIL import Image

DEFAULT_MAX_PIXELS = 50_000_000
REDUCTIONS = (1, 2, 4, 8)  # the scale factors of libjpeg's DCT-domain decoding


class ImageError(ValueError):
    """An input that is not a usable image; ``status`` is 400 (unreadable) or 413 (too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class DecodePlan:
    """How an image will be decoded: its stored size and the reduction ``factor`` (1, 2, 4, 8).

    Attributes:
        width, height: the image's size in its header, pixels.
        format: PIL's format name (``JPEG``, ``PNG``, ...).
        factor: the decoded image is ``ceil(width / factor)`` x ``ceil(height / factor)``.
    """

    width: int
    height: int
    format: str
    factor: int = 1

    @property
    def pixels(self) -> int:
        """Pixels of the decoded image (what its decoding and alignment hold in memory)."""
        return -(-self.width // self.factor) * -(-self.height // self.factor)

    def to_decoded(self, xy: np.ndarray) -> np.ndarray:
        """Original-image pixel coordinates (..., 2 or 4) -> decoded-image coordinates."""
        k = self.factor
        return (np.asarray(xy, np.float64) - (k - 1) / 2) / k

    def to_original(self, xy: np.ndarray) -> np.ndarray:
        """Decoded-image pixel coordinates (..., 2 or 4) -> original-image coordinates."""
        k = self.factor
        return np.asarray(xy, np.float64) * k + (k - 1) / 2


def _open(data: bytes) -> Image.Image:
    if not data:
        raise ImageError("the image is empty (0 bytes)")
    try:
        return Image.open(io.BytesIO(data))  # reads the header only
    except Image.DecompressionBombError as exc:  # over twice PIL's own limit
        raise ImageError(f"the image has too many pixels ({exc})", status=413) from exc
    except Image.UnidentifiedImageError as exc:
        raise ImageError("not a readable image (unknown or unsupported format)") from exc
    except Exception as exc:  # noqa: BLE001 - any undecodable input is the same error to users
        raise ImageError(f"not a readable image ({type(exc).__name__}: {exc})") from exc


def plan_decode(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS,
                max_decode_pixels: int | None = None) -> DecodePlan:
    """Read the header of ``data`` and decide how to decode it, before any pixel is decoded.

    Args:
        max_pixels: largest image accepted at all (width x height of the header).
        max_decode_pixels: largest image decoded (None: ``max_pixels``); a JPEG over it is
            decoded reduced by the smallest factor of 2, 4, 8 that fits, others are refused.
    Raises:
        ImageError: 400 for no or an unreadable image, 413 over either limit.
    """
    with _open(data) as img:
        width, height = img.size
        fmt = str(img.format or "unknown")
    if width < 1 or height < 1:
        raise ImageError(f"the image has no pixels ({width}x{height})")
    if width * height > max_pixels:
        raise ImageError(
            f"the image has {width}x{height} = {width * height / 1e6:.1f} MP, "
            f"over the limit of {max_pixels / 1e6:.1f} MP", status=413)
    limit = max_pixels if max_decode_pixels is None else max_decode_pixels
    for factor in REDUCTIONS if fmt == "JPEG" else (1,):
        plan = DecodePlan(width, height, fmt, factor)
        if plan.pixels <= limit:
            return plan
    reducible = "even reduced 8 times, " if fmt == "JPEG" else f"{fmt} images cannot be decoded reduced and "
    raise ImageError(
        f"the image has {width}x{height} = {width * height / 1e6:.1f} MP; {reducible}"
        f"it is over the decode limit of {limit / 1e6:.1f} MP (serve.max_decode_pixels): "
        "send a smaller image (faces are aligned at a few hundred pixels)", status=413)


def _to_uint8(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB; 16/32-bit integer and float images are rescaled."""
    if img.mode.startswith("I;16"):
        arr = np.asarray(img)
        gray = np.empty(arr.shape, np.uint8)
        for r in range(0, arr.shape[0], 256):  # 0..65535 -> 0..255 rounded, 256 rows at a time
            gray[r:r + 256] = (arr[r:r + 256].astype(np.uint32) + 128) // 257
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode in ("I", "F"):
        arr = np.asarray(img, dtype=np.float64)
        if img.mode == "I":
            arr = arr / 257.0 if arr.max(initial=0) > 255 else arr
        elif arr.size and arr.max() <= 1.0:
            arr = arr * 255.0  # float images in [0, 1]
        gray = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if img.mode != "RGB":
        img = img.convert("RGB")  # L, LA, P, RGBA, CMYK, YCbCr...; alpha is dropped
    return np.asarray(img, dtype=np.uint8)


def decode(data: bytes, plan: DecodePlan) -> np.ndarray:
    """Decode ``data`` as ``plan`` says -> (ceil(H / k), ceil(W / k), 3) uint8 RGB.

    Raises:
        ImageError: a truncated or corrupt file (400), including a PNG whose compressed
            data holds fewer rows than its header declares.
    """
    with _open(data) as img:
        try:
            if plan.factor > 1:
                img.draft("RGB", (-(-plan.width // plan.factor), -(-plan.height // plan.factor)))
            if img.size != (-(-plan.width // plan.factor), -(-plan.height // plan.factor)):
                raise ValueError(f"decoded {img.size} instead of the planned reduction by {plan.factor}")
            if plan.format == "PNG":
                check_png_rows(data)
            img.load()
            return _to_uint8(img)
        except ImageError:
            raise
        except Exception as exc:  # noqa: BLE001 - truncated / corrupt data
            raise ImageError(f"the image is truncated or corrupt ({type(exc).__name__}: {exc})") from exc


def decode_image(data: bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded bytes (jpg, png incl. 16-bit, bmp, ppm, tiff, webp, gif...) -> (H, W, 3) uint8 RGB.

    Raises:
        ImageError: empty or non-image bytes, a truncated or corrupt file (400), or more
            than ``max_pixels`` pixels (413, refused from the header, before decoding).
    """
    return decode(data, plan_decode(data, max_pixels))


_PNG_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # colour type -> samples per pixel
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


def _png_raw_size(width: int, height: int, depth: int, colour: int, interlaced: bool) -> int:
    """Bytes of a PNG's filtered scanlines (one filter byte per row) for its header."""
    bits = depth * _PNG_CHANNELS.get(colour, 4)
    passes = _ADAM7 if interlaced else ((0, 0, 1, 1),)
    total = 0
    for x0, y0, dx, dy in passes:
        w, h = -(-(width - x0) // dx), -(-(height - y0) // dy)
        if w > 0 and h > 0:
            total += h * (1 + -(-(w * bits) // 8))
    return total


def check_png_rows(data: bytes) -> None:
    """Refuse a PNG whose IDAT data inflates to fewer bytes than its header's rows need.

    PIL fills the missing rows with zeros when the zlib stream ends early; this walks the
    chunks and inflates the image data once (in 1 MB pieces, nothing kept).

    Raises:
        ImageError: 400 naming how many of the declared rows' bytes the data holds.
    """
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", data[16:29])
    need = _png_raw_size(width, height, depth, colour, bool(interlace))
    inflate, got, pos = zlib.decompressobj(), 0, 8
    while pos + 8 <= len(data) and not inflate.eof:
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunk = data[pos + 8:pos + 8 + length]
            while chunk and not inflate.eof and got <= need:
                got += len(inflate.decompress(chunk, 1 << 20))
                chunk = inflate.unconsumed_tail
        elif kind == b"IEND":
            break
        pos += 12 + length
    if not inflate.eof:
        got += len(inflate.flush())
    if got < need:
        raise ImageError(f"the PNG is truncated: its data holds {got} of the {need} bytes "
                         f"that its {width}x{height} header declares")
