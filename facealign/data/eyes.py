"""Eyes (sclera, iris, pupil, lids, lashes) and the mouth interior (teeth) in 2D.

Drawn on the face layer of the canvas from the projected iBUG-68 landmarks (eyes 36-47,
inner lips 60-67), only where those landmarks are visible.  Canvas conventions as in
:mod:`facealign.data.scene` (pixels, x right, y down).
"""

from __future__ import annotations

import cv2
import numpy as np

from facealign.data.scene import Scene, blank, paint, pts

IRIS_COLOURS = np.array([
    [0.22, 0.12, 0.06], [0.12, 0.07, 0.04], [0.35, 0.25, 0.12], [0.25, 0.38, 0.50],
    [0.30, 0.40, 0.28], [0.40, 0.42, 0.44],
])
EYES = (tuple(range(36, 42)), tuple(range(42, 48)))
INNER_LIPS = tuple(range(60, 68))


def _smooth_ring(points: np.ndarray, n: int = 4) -> np.ndarray:
    """A closed polygon (k, 2) refined by Chaikin corner cutting."""
    for _ in range(n // 2):
        nxt = np.roll(points, -1, 0)
        points = np.stack([0.75 * points + 0.25 * nxt, 0.25 * points + 0.75 * nxt], 1).reshape(-1, 2)
    return points


def paint_eyes(face: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Draw both eyes on the face layer (H, W, 3) in place."""
    iris_colour = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.7, 1.2)
    gaze = rng.uniform(-0.15, 0.15, 2) * np.array([1.0, 0.4])
    lash = rng.uniform(0.02, 0.1, 3)
    bright = np.float32(0.55 + 0.45 * scene.light)
    for ids in EYES:
        ring, vis = scene.landmarks(ids)
        if vis.sum() < 5:
            continue
        width = float(np.linalg.norm(ring[3] - ring[0]))
        height = float(np.linalg.norm(ring[1] - ring[5]) + np.linalg.norm(ring[2] - ring[4])) / 2
        if width < 3:
            continue
        poly = _smooth_ring(ring)
        lid = max(1, int(round(0.07 * width)))
        if height > 0.12 * width:
            white = blank(scene)
            cv2.fillPoly(white, [pts(poly)], 255, cv2.LINE_AA)
            paint(face, white, np.array([0.80, 0.76, 0.72]) * bright * rng.uniform(0.85, 1.05))
            axis = (ring[3] - ring[0]) / width
            centre = ring.mean(0) + gaze[0] * width * axis + gaze[1] * width * axis[::-1] * [1, -1]
            r = 0.22 * width / max(float(np.cos(scene.pose[2])) ** 0.5, 0.5)
            for radius, colour in ((r, iris_colour * 0.6), (0.8 * r, iris_colour),
                                   (0.38 * r, np.array([0.02, 0.02, 0.02]))):
                disc = blank(scene)
                cv2.circle(disc, tuple(int(v) for v in np.round(centre)), max(1, int(radius)), 255, -1,
                           cv2.LINE_AA)
                paint(face, np.minimum(disc, white), colour * bright)
            glint = blank(scene)
            spot = centre + np.array([0.3, -0.3]) * r
            cv2.circle(glint, tuple(int(v) for v in np.round(spot)), max(1, int(0.18 * r)), 255, -1)
            paint(face, np.minimum(glint, white), np.ones(3) * 0.95, opacity=0.8)
        lids = blank(scene)
        cv2.polylines(lids, [pts(_smooth_ring(ring)[: len(poly) // 2 + 1])], False, 255, lid + 1,
                      cv2.LINE_AA)
        cv2.polylines(lids, [pts(ring[[3, 4, 5, 0]])], False, 160, lid, cv2.LINE_AA)
        for k in (1, 2):  # lashes: short strokes up and out of the upper lid
            root = ring[k]
            tip = root + np.array([(k - 1.5) * 0.25, -0.35]) * width * 0.5
            cv2.line(lids, tuple(int(v) for v in root), tuple(int(v) for v in tip), 200, lid, cv2.LINE_AA)
        paint(face, lids, lash.astype(np.float32))


def paint_mouth(face: np.ndarray, scene: Scene, rng: np.random.Generator) -> None:
    """Dark mouth interior and teeth between the inner lips, when they are parted."""
    ring, vis = scene.landmarks(INNER_LIPS)
    width = float(np.linalg.norm(ring[4] - ring[0]))
    opening = float(np.linalg.norm(ring[2] - ring[6]))
    if vis.sum() < 6 or width < 4 or opening < 0.12 * width:
        return
    bright = np.float32(0.5 + 0.5 * scene.light)
    inside = blank(scene)
    cv2.fillPoly(inside, [pts(_smooth_ring(ring))], 255, cv2.LINE_AA)
    paint(face, inside, np.array([0.18, 0.05, 0.05]) * bright * rng.uniform(0.5, 1.2))
    down = (ring[6] - ring[2]) / opening
    for lip, depth, p in ((ring[[0, 1, 2, 3, 4]], 0.45, 1.0), (ring[[4, 5, 6, 7, 0]], -0.3, 0.4)):
        if rng.uniform() > p or opening < 0.2 * width:  # teeth show when the lips part well
            continue
        shift = down * min(abs(depth) * opening, 0.14 * width) * np.sign(depth)
        band = np.concatenate([lip, lip[::-1] + shift])
        teeth = blank(scene)
        cv2.fillPoly(teeth, [pts(band)], 255, cv2.LINE_AA)
        for t in np.linspace(0.2, 0.8, 4):  # gaps between teeth
            a = ring[0] + t * (ring[4] - ring[0])
            cv2.line(teeth, tuple(int(v) for v in a - 2 * shift), tuple(int(v) for v in a + 2 * shift),
                     120, 1, cv2.LINE_AA)
        paint(face, np.minimum(teeth, inside), np.array([0.86, 0.82, 0.72]) * bright * rng.uniform(0.8, 1.0))
