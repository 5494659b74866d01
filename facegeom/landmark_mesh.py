"""A coarse face mesh over a model's 68 landmarks: the 3DDFA pieces as a usable 3DMM.

3DDFA distributes the Basel Face Model's bases only at the 68 landmark vertices
(``w_shp_base`` 204 x 40, ``w_exp_base`` 204 x 10), without triangles.  The pipeline needs a
mesh (z-buffer visibility, PNCC renders, DFF segmentations, more SDM points than 68), so
:func:`landmark_mesh` triangulates the landmarks (Delaunay in the frontal view, x right,
y up) and subdivides every triangle into four by its edge midpoints, ``levels`` times.  A
new vertex is the midpoint of its edge in the mean *and* in every basis column, so the
result is still a linear model, exact at the 68 landmarks (which keep their coefficients'
meaning: 300W-LP / AFLW2000-3D labels' leading ``Shape_Para`` / ``Exp_Para`` values) and
piecewise linear between them.  It covers the landmarks' convex hull (jaw to brows), no
forehead, ears or neck.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial import Delaunay

from facegeom.morphable_model import MorphableModel


def _subdivide(tri: np.ndarray, n_vertices: int) -> tuple[np.ndarray, np.ndarray]:
    """One midpoint subdivision: (T, 3) -> (4T, 3) triangles and (E, 2) edge endpoints of the
    new vertices, numbered ``n_vertices + e`` in edge order."""
    edges = np.sort(np.concatenate([tri[:, [0, 1]], tri[:, [1, 2]], tri[:, [2, 0]]]), axis=1)
    unique, inverse = np.unique(edges, axis=0, return_inverse=True)
    mid = (n_vertices + inverse.reshape(3, -1)).T  # (T, 3): midpoints of edges 01, 12, 20
    a, b, c = tri.T
    ab, bc, ca = mid.T
    new = np.stack([np.stack([a, ab, ca], 1), np.stack([ab, b, bc], 1), np.stack([ca, bc, c], 1),
                    np.stack([ab, bc, ca], 1)], 1).reshape(-1, 3)
    return new, unique


def landmark_mesh(model: MorphableModel, levels: int = 2) -> MorphableModel:
    """``model`` restricted to its 68 landmarks, triangulated and subdivided (module docstring).

    Args:
        model: any morphable model (e.g. :func:`facegeom.model_files.load_3ddfa_landmark_model`).
        levels: midpoint subdivisions (0: the 68 points and their Delaunay triangles;
            each level adds about 3x the vertices: 68 -> ~250 -> ~950).
    Returns:
        a model whose first 68 vertices are the landmarks (``landmarks = arange(68)``),
        with float32 mean and bases, int32 triangles (counter-clockwise seen frontally).
    """
    marks = model.subset(model.landmarks)
    mean = marks.mean.astype(np.float64)
    bases = np.concatenate([marks.id_basis, marks.exp_basis], 1).astype(np.float64).reshape(68, 3, -1)
    tri = Delaunay(mean[:, :2]).simplices.astype(np.int64)
    e1, e2 = mean[tri[:, 1], :2] - mean[tri[:, 0], :2], mean[tri[:, 2], :2] - mean[tri[:, 0], :2]
    flip = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0] < 0
    tri[flip] = tri[flip][:, [0, 2, 1]]
    for _ in range(levels):
        tri, edges = _subdivide(tri, len(mean))
        mean = np.concatenate([mean, mean[edges].mean(1)])
        bases = np.concatenate([bases, bases[edges].mean(1)])
    flat = bases.reshape(-1, bases.shape[2])
    return MorphableModel(
        mean=mean.astype(np.float32), id_basis=flat[:, : model.n_id].astype(np.float32),
        id_std=model.id_std.astype(np.float32), exp_basis=flat[:, model.n_id :].astype(np.float32),
        exp_std=model.exp_std.astype(np.float32), triangles=tri.astype(np.int32),
        landmarks=np.arange(68, dtype=np.int64), name=f"{model.name}-mesh",
    )
