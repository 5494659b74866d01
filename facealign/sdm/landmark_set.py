"""The SDM landmark vertices: the 68 iBUG landmarks plus points spread over the face.

The extra points are chosen by farthest-point sampling (Euclidean, on the mean shape)
among the *face vertices*: those inside the 2D convex hull of the 68 mean landmarks in
the frontal view that are also visible (not self-occluded) in that view.  Sampling
starts from the 68 landmarks, so the extra points fill the gaps between them.  The
result is deterministic for a given model.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import rasterize, vertex_visibility

DEFAULT_N_POINTS = 160
_FRONTAL_SIZE = 256  # pixels of the frontal render used to find visible vertices


def farthest_point_sampling(points: np.ndarray, n: int, start: np.ndarray) -> np.ndarray:
    """Greedy farthest-point sampling.

    Args:
        points: (M, D) candidate coordinates.
        n: how many candidates to pick (at most M).
        start: (S, D) points already chosen; the first pick is the candidate farthest
            from them (if S = 0, candidate 0 is picked first).
    Returns:
        (n,) int64 indices into ``points``, in pick order.
    """
    points = np.asarray(points, np.float64)
    if n > len(points):
        raise ValueError(f"cannot pick {n} points from {len(points)} candidates")
    picks = np.empty(n, np.int64)
    if len(start):
        diff = points[:, None, :] - np.asarray(start, np.float64)[None]
        nearest = np.sqrt((diff**2).sum(-1)).min(1)
    else:
        nearest = np.full(len(points), np.inf)  # argmax of all-inf is candidate 0
    for i in range(n):
        j = int(np.argmax(nearest))
        picks[i] = j
        nearest = np.minimum(nearest, np.sqrt(((points - points[j]) ** 2).sum(-1)))
    return picks


def face_vertices(model: MorphableModel) -> np.ndarray:
    """Vertices of the face region: inside the landmarks' frontal hull and visible frontally.

    Returns:
        (M,) int64 vertex indices, sorted.
    """
    mean = model.mean.astype(np.float64)
    xy = np.stack([mean[:, 0], -mean[:, 1]], 1)  # frontal view, image y down
    lm = xy[model.landmarks]
    lo, hi = lm.min(0), lm.max(0)
    scale = 0.8 * _FRONTAL_SIZE / float((hi - lo).max())
    centre = (lo + hi) / 2
    image = np.empty((len(mean), 3), np.float32)
    image[:, :2] = (xy - centre) * scale + _FRONTAL_SIZE / 2
    image[:, 2] = mean[:, 2] * scale
    if len(model.triangles):
        raster = rasterize(image, model.triangles, _FRONTAL_SIZE, _FRONTAL_SIZE)
        visible = vertex_visibility(image, raster)
    else:
        visible = np.ones(len(mean), bool)
    inside = Delaunay(lm).find_simplex(xy) >= 0
    return np.flatnonzero(inside & visible).astype(np.int64)


def landmark_vertices(model: MorphableModel, n_points: int = DEFAULT_N_POINTS) -> np.ndarray:
    """The SDM landmark set.

    Args:
        model: the morphable model.
        n_points: total number of points, at least 68.
    Returns:
        (n_points,) int64 vertex indices: ``model.landmarks`` first (so row ``i < 68`` is
        iBUG point ``i``), then farthest-point samples over :func:`face_vertices`.
    """
    if n_points < len(model.landmarks):
        raise ValueError(f"n_points must be at least {len(model.landmarks)}, got {n_points}")
    candidates = np.setdiff1d(face_vertices(model), model.landmarks)
    extra = farthest_point_sampling(
        model.mean[candidates], n_points - len(model.landmarks), model.mean[model.landmarks]
    )
    return np.concatenate([model.landmarks.astype(np.int64), candidates[extra]])
