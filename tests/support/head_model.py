"""A tiny hand-made head model for the SDM tests (independent of the procedural one)."""

from __future__ import annotations

import numpy as np

from facegeom.morphable_model import MorphableModel


def make_head_model(n: int = 24, n_id: int = 6, n_exp: int = 3, seed: int = 0) -> MorphableModel:
    """An ellipsoidal head front (azimuth +-92 deg) with a nose, random smooth bases.

    Model space as in :mod:`facegeom.morphable_model` (x right, y up, z to the camera), mm.
    The 68 "landmarks" are distinct random vertices of the face region.
    """
    rng = np.random.default_rng(seed)
    theta, phi = np.meshgrid(np.linspace(-1.6, 1.6, n), np.linspace(-1.1, 1.1, n))
    nose = 25.0 * np.exp(-(theta**2 + (phi + 0.1) ** 2) / 0.04)
    radius = 1.0 + nose / 80.0
    mean = np.stack([70 * np.sin(theta) * np.cos(phi) * radius, 90 * np.sin(phi),
                     80 * np.cos(theta) * np.cos(phi) * radius], -1).reshape(-1, 3)
    idx = np.arange(n * n).reshape(n, n)
    quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
    triangles = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]]).astype(np.int32)
    face = np.flatnonzero((np.abs(theta) < 0.9).ravel() & (np.abs(phi) < 0.8).ravel())
    landmarks = np.sort(rng.choice(face, 68, replace=False)).astype(np.int64)
    direction = mean / np.linalg.norm(mean, axis=1, keepdims=True)

    def smooth_basis(k: int) -> np.ndarray:
        cols = []
        for _ in range(k):
            a, b, c = rng.normal(size=3)
            field = np.cos(a * theta.ravel() + b * phi.ravel() + c)[:, None]
            cols.append((direction * field + 0.3 * rng.normal(size=3) * field).reshape(-1))
        return np.stack(cols, 1).astype(np.float32)

    return MorphableModel(
        mean=mean.astype(np.float32), id_basis=smooth_basis(n_id),
        id_std=(6.0 / np.arange(1, n_id + 1)).astype(np.float32), exp_basis=smooth_basis(n_exp),
        exp_std=(3.0 / np.arange(1, n_exp + 1)).astype(np.float32), triangles=triangles,
        landmarks=landmarks, name="tiny-head",
    )
