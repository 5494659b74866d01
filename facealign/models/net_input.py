"""The cascade's network input: face crops, PNCC rendering, the 6-channel stack.

Shared by training (inside DataLoader workers) and inference.

A crop box is square ``(x0, y0, x1, y1)`` in image pixels; crop pixel ``(i, j)`` has its
centre at image ``x = x0 + j * side / S``, ``y = y0 + i * side / S`` (``S`` the crop size),
the same map as :func:`facegeom.parameters.to_crop`.  Parts of the box outside the image
are black.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from facegeom.camera import project
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import N_POSE
from facegeom.pncc import project_linear_model, render_pncc, render_pncc_into


def square_box(face_boxes: np.ndarray, scale: float, shift: float = 0.0) -> np.ndarray:
    """Square crop boxes around face boxes.

    Args:
        face_boxes: (..., 4) ``(x0, y0, x1, y1)`` pixels (e.g. the landmark box).
        scale: crop side / max(width, height) of the face box.
        shift: the crop centre moves up by ``shift * height`` (towards the forehead).
    Returns:
        (..., 4) float64 square boxes.
    """
    b = np.asarray(face_boxes, np.float64)
    w, h = b[..., 2] - b[..., 0], b[..., 3] - b[..., 1]
    half = scale * np.maximum(np.maximum(w, h), 1e-6) / 2
    cx, cy = (b[..., 0] + b[..., 2]) / 2, (b[..., 1] + b[..., 3]) / 2 - shift * h
    return np.stack([cx - half, cy - half, cx + half, cy + half], axis=-1)


def crop_image(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """(H, W, C) image, square box (4,) -> (size, size, C) crop of the same dtype (bilinear)."""
    x0, y0, x1, _ = (float(v) for v in box)
    s = size / max(x1 - x0, 1e-6)
    if s < 0.5:  # large downscale: smooth first so that bilinear sampling does not alias
        image = cv2.GaussianBlur(image, (0, 0), 0.5 / s)
    warp = np.array([[s, 0.0, -x0 * s], [0.0, s, -y0 * s]], np.float64)
    out = cv2.warpAffine(np.ascontiguousarray(image), warp, (size, size), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return out.reshape(size, size, -1)


def stack_input(crop: np.ndarray, pncc: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 crop and (S, S, 3) PNCC in [0, 1] -> (S, S, 6) uint8 (PNCC quantised)."""
    pncc8 = np.round(np.clip(pncc, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.concatenate([crop, pncc8], axis=2)


def to_network(stack: np.ndarray) -> np.ndarray:
    """(S, S, 6) uint8 stack -> (6, S, S) float32 network input in [-0.5, 0.5]."""
    return np.ascontiguousarray((stack.astype(np.float32) * (1.0 / 255.0) - 0.5).transpose(2, 0, 1))


def crop_to_network(crops: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) uint8 crops -> ``out[:, :3]`` of a (B, 6, S, S) float32 input, as :func:`to_network`."""
    np.multiply(crops.transpose(0, 3, 1, 2), np.float32(1.0 / 255.0), out=out[:, :3], dtype=np.float32)
    out[:, :3] -= np.float32(0.5)
    return out


def pncc_to_network(pnccs: np.ndarray, out: np.ndarray) -> np.ndarray:
    """(B, S, S, 3) PNCC in [0, 1] -> ``out[:, 3:]`` of a (B, 6, S, S) float32 input.

    Quantised to 8 bits exactly as :func:`stack_input` then :func:`to_network` do (the
    values are equal to the last bit), without the uint8 round trip.
    """
    q = np.clip(pnccs, 0.0, 1.0).transpose(0, 3, 1, 2)
    np.multiply(q, np.float32(255.0), out=out[:, 3:])
    np.round(out[:, 3:], out=out[:, 3:])
    out[:, 3:] *= np.float32(1.0 / 255.0)
    out[:, 3:] -= np.float32(0.5)
    return out


def network_input(crop: np.ndarray, pncc: np.ndarray) -> np.ndarray:
    """(S, S, 3) uint8 crop and (S, S, 3) PNCC in [0, 1] -> (6, S, S) float32 in [-0.5, 0.5].

    Channels 0..2 are the crop, 3..5 the PNCC (quantised to 8 bits as in training).
    """
    return to_network(stack_input(crop, pncc))


class PnccRenderer:
    """Renders the PNCC of parameter vectors quickly (one contiguous basis, float32).

    Args:
        model: the morphable model; its NCC colours the map.
    """

    def __init__(self, model: MorphableModel) -> None:
        self.mean = np.ascontiguousarray(model.mean, np.float32)
        # (3N, K_id + K_exp) for the compiled vertices pass (single-threaded, as in DataLoader
        # workers); its transpose for torch's products in shape()
        self.basis = np.ascontiguousarray(np.concatenate([model.id_basis, model.exp_basis], 1), np.float32)
        self.basis_t = torch.from_numpy(self.basis).T
        self.triangles = np.ascontiguousarray(model.triangles, np.int32)
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= len(self.mean)):
            raise ValueError("morphable model: triangles index outside the vertices")
        self.colors = np.ascontiguousarray(model.ncc(), np.float32)

    def shape(self, params: np.ndarray) -> np.ndarray:
        """(P,) parameters -> (N, 3) float32 model-space shape (identity and expression only)."""
        coeff = torch.from_numpy(np.asarray(params, np.float64)[N_POSE:].astype(np.float32))
        return self.mean + (coeff @ self.basis_t).numpy().reshape(-1, 3)

    def render_shape(self, pose: np.ndarray, shape: np.ndarray, size: int) -> np.ndarray:
        """PNCC (size, size, 3) of a model-space ``shape`` (N, 3) seen with ``pose`` (6,)."""
        verts = project(np.asarray(pose, np.float64), shape)
        return render_pncc(verts, self.triangles, self.colors, size, size)

    def vertices(self, params: np.ndarray) -> np.ndarray:
        """(P,) or (B, P) parameters -> (N, 3) or (B, N, 3) image-space vertices
        (pixels, y down; depth larger = nearer).  Shape and projection are one compiled pass
        that reads the basis once for the whole batch (:func:`facegeom.pncc.project_linear_model`)."""
        params = np.asarray(params, np.float64)
        batch = np.atleast_2d(params)
        out = project_linear_model(self.mean, self.basis, batch[:, N_POSE:], batch[:, :N_POSE])
        return out[0] if params.ndim == 1 else out

    def render_into(self, vertices: np.ndarray, out: np.ndarray) -> np.ndarray:
        """PNCC of projected ``vertices`` (N, 3) into ``out`` (S, S, 3) float32; equals
        :func:`facegeom.pncc.render_pncc` (the triangles were checked once, here)."""
        return render_pncc_into(vertices, self.triangles, self.colors, out, checked=True)

    def __call__(self, params: np.ndarray, size: int) -> np.ndarray:
        """(P,) or (B, P) crop-frame parameters -> (size, size, 3) or (B, size, size, 3) float32 PNCC."""
        verts = self.vertices(params)
        if verts.ndim == 2:
            return render_pncc(verts, self.triangles, self.colors, size, size)
        return np.stack([render_pncc(v, self.triangles, self.colors, size, size) for v in verts])
