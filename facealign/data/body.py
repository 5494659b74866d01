"""Neck, shoulders and clothing below the head, drawn behind the face.

The body is a few 3D outlines in model space (mm, y up) turned by a fraction of the head's
pose about the neck and projected like the head; each part is filled as the convex hull
of its projected outline on the canvas (pixels, y down).
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data import textures
from facealign.data.scene import Scene, blank, hull, paint
from facegeom.camera import rotation_matrix

CLOTH_COLOURS = np.array([
    [0.05, 0.05, 0.06], [0.85, 0.85, 0.83], [0.15, 0.20, 0.35], [0.45, 0.10, 0.10],
    [0.30, 0.32, 0.30], [0.55, 0.45, 0.30], [0.20, 0.35, 0.25], [0.60, 0.60, 0.70],
])
NECK_PIVOT = np.array([0.0, -95.0, -35.0])


def _ring(centre: np.ndarray, rx: float, rz: float, n: int = 16) -> np.ndarray:
    a = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return centre + np.stack([rx * np.cos(a), np.zeros(n), rz * np.sin(a)], 1)


def _body_project(scene: Scene, points: np.ndarray, turn: np.ndarray) -> np.ndarray:
    """Canvas points of body points (M, 3): turned by ``turn`` (3, 3) about the neck pivot."""
    f, tx, ty = scene.pose[0], scene.pose[4], scene.pose[5]
    world = (points - NECK_PIVOT) @ turn.T + NECK_PIVOT @ scene.rotation().T
    return np.stack([f * world[:, 0] + tx, -f * world[:, 1] + ty, f * world[:, 2]], 1)


def paint_body(canvas: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Draw torso (clothing) then neck onto the background canvas (H, W, 3) in place."""
    pitch, yaw, roll = scene.pose[1:4]
    turn = rotation_matrix(pitch * rng.uniform(0, 0.4), yaw * rng.uniform(0.2, 0.7),
                           roll * rng.uniform(0, 0.5))
    s = scene.side
    half = rng.uniform(150, 210)
    top, drop = rng.uniform(-185, -160), rng.uniform(30, 60)
    outline = []
    for z in (-110.0, 10.0):
        outline += [(-50, top, z), (50, top, z), (half, top - drop, z), (-half, top - drop, z),
                    (half * 1.05, -700, z), (-half * 1.05, -700, z)]
    torso = blank(scene)
    cv2.fillPoly(torso, [hull(_body_project(scene, np.array(outline, float), turn))], 255, cv2.LINE_AA)
    cloth = CLOTH_COLOURS[rng.integers(len(CLOTH_COLOURS))] * rng.uniform(0.7, 1.2, 3) ** 0.5
    light = 0.5 + 0.5 * scene.light
    texture = textures.crop("weave" if rng.uniform() < 0.6 else "blotch", s, s, rng)
    amount = rng.uniform(0.05, 0.25)
    if rng.uniform() < 0.25:  # stripes
        period = int(rng.integers(4, 14))
        stripe = (np.arange(s) // period % 2).astype(np.float32)[:, None] - 0.5
        texture, amount = texture * 0.2 + stripe * 2, rng.uniform(0.15, 0.3)
    paint(canvas, torso, np.clip(cloth * light, 0, 1), texture=texture, amount=amount)
    neck = blank(scene)
    r = rng.uniform(42, 55)
    ring_top = _ring(np.array([0.0, -40.0, -30.0]), r, r * 0.9)
    ring_low = _ring(np.array([0.0, top - rng.uniform(5, 40), -35.0]), r * 1.05, r * 0.95)
    cv2.fillPoly(neck, [hull(_body_project(scene, np.concatenate([ring_top, ring_low]), turn))],
                 255, cv2.LINE_AA)
    skin = scene.skin * light * rng.uniform(0.6, 0.85)
    chin_y = float(scene.verts[scene.model.landmarks[8], 1])
    ramp = np.clip((np.arange(s, dtype=np.float32) - chin_y) / (0.15 * s), 0, 1) - 0.6  # chin shadow
    shade = np.repeat(ramp[:, None], s, 1) + 0.1 * textures.crop("blotch", s, s, rng)
    paint(canvas, neck, skin, texture=shade, amount=0.6)
