"""Accessories and occluders in front of the face: glasses, hats and hands.

Glasses and hats are 3D outlines in model space (mm, y up, z towards the camera) projected
with the head's pose; hands are drawn in 2D near a landmark.  Everything is painted onto
the canvas (pixels, y down) and its alpha accumulated in ``occlusion`` (H, W) float.
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data import textures
from facealign.data.scene import Scene, blank, hull, paint, pts

FRAME_COLOURS = np.array([[0.03, 0.03, 0.03], [0.25, 0.15, 0.08], [0.6, 0.55, 0.45],
                          [0.75, 0.75, 0.78], [0.4, 0.05, 0.05]])


def paint_glasses(canvas: np.ndarray, occlusion: np.ndarray, scene: Scene, sunglasses: bool,
                  rng: np.random.Generator) -> None:
    """Two rims, a bridge and the near temple arm, at the eyes' 3D positions."""
    lm = scene.model.landmarks
    a, b = rng.uniform(18, 26), rng.uniform(13, 21)
    power = rng.uniform(2.0, 5.0)
    ang = np.linspace(0, 2 * np.pi, 32, endpoint=False)
    c, s = np.cos(ang), np.sin(ang)
    unit = np.stack([np.sign(c) * np.abs(c) ** (2 / power), np.sign(s) * np.abs(s) ** (2 / power)], 1)
    frame, lens = blank(scene), blank(scene)
    thick = max(1, int(round(rng.uniform(0.8, 2.5) * scene.mm)))
    colour = FRAME_COLOURS[rng.integers(len(FRAME_COLOURS))]
    inner = []
    for ids, side in (((36, 39), -1), ((42, 45), 1)):
        eye = scene.shape[lm[list(range(ids[0], ids[1] + 3))]].mean(0)
        centre = eye + np.array([side * 2.0, -2.0, 14.0])
        rim = centre + np.stack([a * unit[:, 0], b * unit[:, 1], -3 * unit[:, 0] * side], 1)
        p = scene.project(rim)
        inner.append(centre + np.array([-side * a, b * 0.3, 0]))
        if not scene.in_front(scene.project(centre[None]), 10.0)[0]:
            continue
        cv2.polylines(frame, [pts(p)], True, 255, thick, cv2.LINE_AA)
        cv2.fillPoly(lens, [pts(p)], 255, cv2.LINE_AA)
        outer = centre + np.array([side * a, b * 0.3, 0])
        towards = (scene.rotation() @ np.array([side, 0.0, 0.0]))[2]
        if towards > 0.25:  # the temple arm on the side turned towards the camera
            ear = np.array([side * 72.0, eye[1] - 4, -15.0])
            cv2.line(frame, *(tuple(int(v) for v in q[:2]) for q in scene.project(np.stack([outer, ear]))),
                     255, thick, cv2.LINE_AA)
    bridge = scene.project(np.stack([inner[0], (inner[0] + inner[1]) / 2 + [0, 3, 4], inner[1]]))
    if scene.in_front(bridge[1:2], 10.0)[0]:
        cv2.polylines(frame, [pts(bridge)], False, 255, thick, cv2.LINE_AA)
    if sunglasses:
        tint = np.array([0.05, 0.05, 0.05]) + rng.uniform(0, 0.15, 3)
        paint(canvas, lens, tint, occlusion, opacity=float(rng.uniform(0.75, 0.95)))
    else:
        paint(canvas, lens, np.array([0.9, 0.95, 1.0]), None, opacity=float(rng.uniform(0.03, 0.12)))
    paint(canvas, frame, colour * (0.5 + 0.5 * scene.light))


def paint_hat(canvas: np.ndarray, occlusion: np.ndarray, scene: Scene,
              rng: np.random.Generator) -> None:
    """A dome over the scalp down to a random line on the forehead, with a brim or not."""
    shape = scene.shape
    line = rng.uniform(62, 95)
    top = shape[shape[:, 1] > line]
    r = np.linalg.norm(top, axis=1, keepdims=True)
    dome = top * (1 + rng.uniform(4, 14) / r)
    mask = blank(scene)
    cv2.fillPoly(mask, [hull(scene.project(dome))], 255, cv2.LINE_AA)
    if rng.uniform() < 0.5:  # a cap's peak
        ang = np.linspace(-np.pi / 2, np.pi / 2, 12)
        length = rng.uniform(50, 90)
        peak = np.stack([70 * np.sin(ang), np.full(12, line + 2), 80 + length * np.cos(ang)], 1)
        cv2.fillPoly(mask, [hull(scene.project(np.concatenate([peak, [[-70, line, 60], [70, line, 60]]])))],
                     255, cv2.LINE_AA)
    colour = np.clip(rng.uniform(0.05, 0.9, 3) * (0.5 + 0.5 * scene.light), 0, 1)
    paint(canvas, mask, colour, occlusion, texture=textures.crop("weave", scene.side, scene.side, rng),
          amount=0.15)


def paint_hand(canvas: np.ndarray, occlusion: np.ndarray, scene: Scene,
               rng: np.random.Generator) -> None:
    """A palm, fingers and forearm reaching a lower-face landmark from below."""
    anchor_id = int(rng.choice([8, 6, 10, 48, 54, 3, 13, 33]))
    anchor, _ = scene.landmarks([anchor_id])
    face = scene.verts[scene.model.landmarks, :2]
    size = float(np.ptp(face, 0).max())
    ang = rng.uniform(np.pi * 0.25, np.pi * 0.75)           # fingers point up (image y down)
    direction = np.array([np.cos(ang), -np.sin(ang)])
    palm = anchor[0] - direction * size * rng.uniform(0.3, 0.5)
    mask = blank(scene)
    pr = size * rng.uniform(0.18, 0.26)
    cv2.ellipse(mask, tuple(int(v) for v in palm), (int(pr), int(pr * 1.2)),
                float(np.degrees(ang)) + 90, 0, 360, 255, -1, cv2.LINE_AA)
    finger = max(2, int(pr * 0.42))
    for k, spread in enumerate(np.linspace(-0.45, 0.45, 4)):
        d = np.array([np.cos(ang + spread), -np.sin(ang + spread)])
        length = pr * (1.5 + 0.35 * (1.5 - abs(k - 1.5)) ) * rng.uniform(0.8, 1.1)
        a, b = palm + d * pr * 0.6, palm + d * (pr * 0.6 + length)
        cv2.line(mask, tuple(int(v) for v in a), tuple(int(v) for v in b), 255, finger, cv2.LINE_AA)
    arm_end = palm - direction * scene.side * 1.5
    cv2.line(mask, tuple(int(v) for v in palm), tuple(int(v) for v in arm_end), 255, int(pr * 1.5),
             cv2.LINE_AA)
    skin = scene.skin * rng.uniform(0.85, 1.1, 3) ** 0.3 * (0.55 + 0.5 * scene.light)
    shade = textures.crop("blotch", scene.side, scene.side, rng)
    paint(canvas, mask, np.clip(skin, 0, 1), occlusion, texture=shade, amount=0.12)
