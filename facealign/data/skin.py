"""Skin detail (pores, blotches, blemishes) on the face layer and specular highlights.

Face-layer arrays are (H, W, 3) float RGB in [0, 1] on the canvas (pixels, y down).
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data import textures
from facealign.data.scene import Scene, blank, paint


def paint_skin_detail(face: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Modulate the face layer with pore-scale and blotchy noise, then add blemishes."""
    x, y, w, h = cv2.boundingRect(scene.mask.astype(np.uint8))
    if w == 0 or h == 0:
        return
    win = (slice(y, y + h), slice(x, x + w))
    fine = textures.crop("fine", h, w, rng)
    blotch = textures.crop("blotch", h, w, rng)
    gain = 1 + rng.uniform(0.015, 0.05) * fine + rng.uniform(0.02, 0.06) * blotch
    tint = 1 + rng.uniform(0.0, 0.05) * blotch[..., None] * np.array([1.0, -0.5, -0.5], np.float32)
    face[win] *= gain[..., None] * tint
    on_face = np.flatnonzero(scene.mask)
    spots = blank(scene)
    for i in rng.choice(on_face, int(rng.integers(0, 8))):
        r = int(rng.integers(1, 3 if rng.uniform() < 0.8 else 5))
        cv2.circle(spots, (int(i % scene.side), int(i // scene.side)), r, 255, -1, cv2.LINE_AA)
    colour = face[win].reshape(-1, 3).mean(0) * rng.uniform(0.6, 0.85) * np.array([1.0, 0.85, 0.85])
    paint(face, spots, colour, opacity=float(rng.uniform(0.3, 0.7)))


def specular(normals_cam: np.ndarray, light_dir: np.ndarray, light_color: np.ndarray,
             rng: np.random.Generator) -> np.ndarray:
    """(N, 3) Blinn-Phong highlight for camera-space unit normals (N, 3) (viewer on +z)."""
    half = light_dir + np.array([0.0, 0.0, 1.0])
    half /= np.linalg.norm(half)
    shininess, strength = rng.uniform(6, 40), rng.uniform(0.08, 0.35)
    spec = np.clip(normals_cam @ half, 0, None) ** shininess
    return (strength * spec[:, None] * light_color[None]).astype(np.float32)
