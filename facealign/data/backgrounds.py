"""Cluttered backgrounds: gradients, textured shapes, lines and defocus.

Painted over the plain background (H, W, 3) float RGB in [0, 1] on the canvas
(pixels, y down) before anything else is drawn.
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data import textures


def _colour(rng: np.random.Generator) -> tuple[float, float, float]:
    base = rng.uniform(0.05, 0.9)
    chroma = rng.uniform(-0.3, 0.3, 3) * rng.uniform(0.1, 0.8)   # mostly muted colours
    return tuple(float(c) for c in np.clip(base + chroma, 0, 1))


def paint_clutter(bg: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A cluttered version of ``bg`` (H, W, 3): a new array."""
    h, w = bg.shape[:2]
    out = bg.copy()
    if rng.uniform() < 0.6:  # a linear light gradient across the scene
        ang = rng.uniform(0, 2 * np.pi)
        ramp = (np.cos(ang) * np.arange(w)[None] + np.sin(ang) * np.arange(h)[:, None]) / max(h, w)
        out *= (1 + rng.uniform(0.2, 0.8) * (ramp - ramp.mean()))[..., None].astype(np.float32)
    for _ in range(int(rng.integers(3, 14))):
        kind = rng.uniform()
        colour = _colour(rng)
        if kind < 0.4:
            x0, y0 = (int(v) for v in rng.integers(-w // 4, w, 2))
            x1, y1 = x0 + int(rng.integers(w // 10, w)), y0 + int(rng.integers(h // 10, h))
            cv2.rectangle(out, (x0, y0), (x1, y1), colour, -1)
        elif kind < 0.65:
            poly = rng.integers(-w // 4, w + w // 4, (int(rng.integers(3, 7)), 2)).astype(np.int32)
            cv2.fillPoly(out, [poly], colour)
        elif kind < 0.9:
            a, b = rng.integers(-w // 4, w + w // 4, (2, 2))
            cv2.line(out, tuple(int(v) for v in a), tuple(int(v) for v in b), colour,
                     int(rng.integers(1, max(2, w // 20))))
        else:
            centre = tuple(int(v) for v in rng.integers(0, w, 2))
            cv2.circle(out, centre, int(rng.integers(w // 20 + 1, w // 4 + 2)), colour, -1)
    tex = textures.crop(str(rng.choice(["fine", "blotch", "weave", "streak"])), h, w, rng)
    out *= (1 + rng.uniform(0.03, 0.2) * tex)[..., None]
    if rng.uniform() < 0.5:  # shallow depth of field
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.8, 3.5))
    return np.clip(out, 0, 1)
