"""Noise textures made once per process and cropped per sample.

Tiles are (T, T) float32 with zero mean and unit standard deviation; they are built from a
fixed seed (they are part of the generator, not of a sample), so a sample stays a pure
function of its own seed.  Image convention: (rows, cols) = (y down, x right).
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np


def _normalise(a: np.ndarray) -> np.ndarray:
    a = a - a.mean()
    return (a / max(float(a.std()), 1e-6)).astype(np.float32)


@lru_cache(maxsize=4)
def tiles(side: int) -> dict[str, np.ndarray]:
    """Named (side, side) tiles: ``fine`` (pores), ``blotch`` (low frequency), ``streak``
    (vertical hair strands) and ``weave`` (cloth)."""
    rng = np.random.default_rng(20240616)
    white = rng.standard_normal((side, side)).astype(np.float32)
    fine = cv2.GaussianBlur(white, (0, 0), 0.7)
    blotch = sum(cv2.resize(rng.standard_normal((n, n)).astype(np.float32), (side, side),
                            interpolation=cv2.INTER_CUBIC) / k for k, n in ((1, 6), (2, 14), (4, 32)))
    streak = cv2.GaussianBlur(white, (0, 0), sigmaX=0.6, sigmaY=10.0)
    weave = cv2.GaussianBlur(white, (0, 0), sigmaX=2.5, sigmaY=0.5) + cv2.GaussianBlur(
        rng.standard_normal((side, side)).astype(np.float32), (0, 0), sigmaX=0.5, sigmaY=2.5)
    return {"fine": _normalise(fine), "blotch": _normalise(blotch),
            "streak": _normalise(streak), "weave": _normalise(weave)}


def crop(name: str, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """A random (height, width) window of tile ``name`` (a view; do not write to it)."""
    side = 1 << int(np.ceil(np.log2(2 * max(height, width, 128))))  # few sizes: cache hits
    tile = tiles(side)[name]
    y, x = (int(v) for v in rng.integers(0, side - np.array([height, width]) + 1))
    return tile[y:y + height, x:x + width]
