"""Hair: scalp colour on the mesh, a hair mass behind the head, fringes and loose strands.

The scalp is the part of the head above a hairline that is a function of the azimuth
about the vertical axis (high over the forehead, low at the nape).  Canvas conventions as
in :mod:`facealign.data.scene` (pixels, y down); model space in mm, y up.
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data import textures
from facealign.data.scene import Scene, blank, hull, paint, pts

# Hair colours (RGB in [0, 1]): black, browns, auburn, blond, grey, white.
HAIR_COLOURS = np.array([
    [0.04, 0.03, 0.03], [0.10, 0.07, 0.05], [0.20, 0.13, 0.08], [0.33, 0.22, 0.13],
    [0.45, 0.25, 0.12], [0.62, 0.50, 0.32], [0.78, 0.68, 0.48], [0.50, 0.49, 0.47],
    [0.80, 0.79, 0.76],
])
COLOUR_WEIGHTS = np.array([5, 6, 5, 3, 1.5, 1.5, 1, 1.5, 0.5])


def sample_hair(rng: np.random.Generator) -> dict:
    """Colour (3,), hairline heights (mm) over forehead / temples / above ears / nape,
    and volume (mm) of one hairstyle."""
    k = rng.choice(len(HAIR_COLOURS), p=COLOUR_WEIGHTS / COLOUR_WEIGHTS.sum())
    colour = np.clip(HAIR_COLOURS[k] * rng.uniform(0.8, 1.2, 3) ** 0.3, 0, 1)
    front = rng.uniform(72, 100) if rng.uniform() < 0.85 else rng.uniform(100, 125)  # receding
    return {"colour": colour.astype(np.float32), "front": front,
            "temple": front - rng.uniform(8, 25), "ear": rng.uniform(28, 45),
            "nape": rng.uniform(-40, 5), "volume": rng.uniform(2, 14)}


def scalp_weight(shape: np.ndarray, style: dict) -> np.ndarray:
    """(N,) weight in [0, 1] of hair on each model-space vertex (N, 3) of a head."""
    theta = np.degrees(np.abs(np.arctan2(shape[:, 0], shape[:, 2])))
    line = np.interp(theta, [0, 25, 65, 95, 125, 180],
                     [style["front"], style["front"], style["temple"], style["ear"] + 25,
                      style["nape"], style["nape"]])
    behind_ear = (theta > 95) & (shape[:, 1] < style["ear"] + 25)
    line = np.where(behind_ear, np.minimum(line, style["nape"] + 15), line)
    return np.clip((shape[:, 1] - line) / 6.0 + 0.5, 0, 1)


def hair_albedo(albedo: np.ndarray, weight: np.ndarray, colour: np.ndarray,
                rng: np.random.Generator) -> np.ndarray:
    """(N, 3) albedo with the scalp (weight (N,)) in ``colour`` with per-vertex variation."""
    tint = colour[None] * (1 + 0.25 * rng.standard_normal((len(albedo), 1)))
    w = weight[:, None]
    return np.clip(albedo * (1 - w) + tint * w, 0, 1).astype(np.float32)


def _outward(points: np.ndarray, mm: float) -> np.ndarray:
    r = np.linalg.norm(points, axis=1, keepdims=True)
    return points * (1 + mm / np.maximum(r, 1e-6))


def _paint_hair(canvas: np.ndarray, mask: np.ndarray, scene: Scene, colour: np.ndarray,
                rng: np.random.Generator, occlusion: np.ndarray | None = None) -> None:
    tex = textures.crop("streak", scene.side, scene.side, rng)
    paint(canvas, mask, colour * (0.6 + 0.5 * scene.light), occlusion, texture=tex, amount=0.35)


def paint_mass(canvas: np.ndarray, scene: Scene, style: dict, weight: np.ndarray,
               long: bool, rng: np.random.Generator) -> None:
    """Draw the hair volume around the scalp (and falling hair when ``long``) behind the face."""
    scalp = scene.shape[weight > 0.5]
    if len(scalp) < 3:
        return
    shell = _outward(scalp, style["volume"])
    parts = [shell]
    if long:
        back = shell[np.abs(np.arctan2(shell[:, 0], shell[:, 2])) > np.radians(60)]
        length, flare = rng.uniform(80, 260), rng.uniform(1.0, 1.35)
        drop = back.copy()
        drop[:, 1] -= length
        drop[:, 0] *= flare
        drop[:, 2] = np.minimum(drop[:, 2], 20.0)
        parts.append(drop)
    mask = blank(scene)
    cv2.fillPoly(mask, [hull(scene.project(np.concatenate(parts)))], 255, cv2.LINE_AA)
    _paint_hair(canvas, mask, scene, style["colour"], rng)


def paint_fringe(canvas: np.ndarray, occlusion: np.ndarray, scene: Scene, style: dict,
                 weight: np.ndarray, rng: np.random.Generator) -> None:
    """Strands from the visible front scalp down over the forehead (an occluder)."""
    shape = scene.shape
    theta = np.abs(np.arctan2(shape[:, 0], shape[:, 2]))
    roots = np.flatnonzero((weight > 0.5) & (theta < np.radians(55)) & scene.visible
                           & (shape[:, 1] < style["front"] + 30))
    if len(roots) == 0:
        return
    roots = rng.choice(roots, int(rng.integers(25, 70)))
    start = _outward(shape[roots], style["volume"] * 0.4)
    drop = np.minimum(rng.uniform(15, 45) * rng.uniform(0.6, 1.2, len(roots)),
                      start[:, 1] - 50.0)      # stop at the brows
    t = np.linspace(0, 1, 5)[None, :, None]
    end = start + np.stack([rng.uniform(-8, 8, len(roots)) + rng.uniform(-12, 12),
                            -np.maximum(drop, 0), 0.2 * np.maximum(drop, 0) + 2], 1)
    lines = start[:, None] * (1 - t) + end[:, None] * t
    lines[..., 0] += 6 * np.sin(np.pi * t[..., 0]) * rng.uniform(-1, 1)
    p = scene.project(lines.reshape(-1, 3)).reshape(len(roots), 5, 3)
    mask = blank(scene)
    width = max(1, int(round(rng.uniform(1.0, 2.2) * scene.mm)))
    cv2.polylines(mask, [pts(q) for q in p], False, 255, width, cv2.LINE_AA)
    _paint_hair(canvas, mask, scene, style["colour"], rng, occlusion)


def paint_strands(canvas: np.ndarray, occlusion: np.ndarray, scene: Scene, colour: np.ndarray,
                  rng: np.random.Generator) -> None:
    """A few loose strands across the face (an occluder): smooth random curves."""
    mask = blank(scene)
    face = scene.verts[scene.model.landmarks, :2]
    lo, hi = face.min(0), face.max(0)
    for _ in range(int(rng.integers(1, 6))):
        ctrl = np.stack([rng.uniform(lo[0], hi[0], 4), np.sort(rng.uniform(lo[1] - 30, hi[1], 4))], 1)
        t = np.linspace(0, 1, 12)[:, None]
        curve = ((1 - t) ** 3 * ctrl[0] + 3 * (1 - t) ** 2 * t * ctrl[1]
                 + 3 * (1 - t) * t**2 * ctrl[2] + t**3 * ctrl[3])
        width = max(1, int(round(rng.uniform(0.4, 1.2) * scene.mm)))
        cv2.polylines(mask, [pts(curve)], False, int(rng.integers(150, 256)), width, cv2.LINE_AA)
    _paint_hair(canvas, mask, scene, colour, rng, occlusion)
