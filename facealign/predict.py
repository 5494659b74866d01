"""The one predict path: an image -> face boxes -> aligned faces -> the prediction contract.

Used by ``facealign predict``, the HTTP service and the MLflow pyfunc alike, so the three
answer the same JSON for the same image:

``{"image": name, "faces": [{"box", "landmarks" (68 x [x, y] pixels), "visible" (68),
"pose" {"yaw", "pitch", "roll"} degrees}, ...]}`` (image y points down).

An image arrives as encoded bytes (jpg, png, ...), base64 text of such bytes, or an
(H, W), (H, W, 3) or (H, W, 4) uint8 array; :func:`to_image` makes it (H, W, 3) uint8 RGB.
Boxes are given (``"x0,y0,x1,y1"`` or 4 numbers each), else detected, else the whole image
(:func:`facealign.detect.face_boxes`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

import numpy as np

from facealign.aligners.base import Aligner
from facealign.decode import DEFAULT_MAX_PIXELS, decode_image
from facealign.detect import HaarFaceDetector, face_boxes


def to_image(value: Any, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Encoded bytes, base64 text or a uint8 array -> (H, W, 3) uint8 RGB.

    Raises:
        facealign.decode.ImageError: bytes that are no image, or over ``max_pixels``.
        ValueError: any other value, naming what was given.
    """
    if isinstance(value, bytes | bytearray):
        return decode_image(bytes(value), max_pixels)
    if isinstance(value, str):
        try:
            return decode_image(base64.b64decode(value, validate=True), max_pixels)
        except binascii.Error as exc:
            raise ValueError("image: a string must be base64-encoded image bytes") from exc
    arr = np.asarray(value)
    if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (3, 4)):
        raise ValueError(f"image: an array must be uint8 (H, W), (H, W, 3) or (H, W, 4), "
                         f"got {arr.dtype} {arr.shape}")
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    return np.ascontiguousarray(arr[:, :, :3])


def align_faces(aligner: Aligner, image: np.ndarray, boxes: np.ndarray,
                with_params: bool = False) -> list[dict]:
    """The contract's ``faces`` list: one aligned face per box (K, 4) of ``image`` (H, W, 3).

    ``with_params`` adds ``params``: the 3DMM parameter vector (list of floats) or None.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return []
    faces = []
    for a in aligner.align([image] * len(boxes), boxes):
        face = a.to_json()
        if with_params:
            face["params"] = None if a.params is None else [float(v) for v in a.params]
        faces.append(face)
    return faces


def predict_image(aligner: Aligner, image: np.ndarray, name: str, boxes: Sequence | None = None,
                  detector: HaarFaceDetector | None = None, with_params: bool = False) -> tuple[dict, str]:
    """One image's contract entry and where its boxes came from (``given``, ``haar``, ``whole-image``).

    Raises:
        facealign.detect.BoxError: a given box that is malformed or outside the image.
    """
    found, source = face_boxes(image, boxes, detector)
    return {"image": name, "faces": align_faces(aligner, image, found, with_params)}, source
