"""Batched weak-perspective geometry for the SDM: cameras from boxes and the shape fit.

Conventions as in :mod:`facegeom.camera`: pose ``(f, pitch, yaw, roll, tx, ty)`` with
angles in radians, ``f`` in pixels per model unit and ``(tx, ty)`` in pixels; image y
points down, projected depth is larger nearer the camera.

The shape fit solves, per face, the regularised linear least squares

    min_a  sum_l || f Pi R (m_l + B_l a) + t - x_l ||^2  +  noise^2 * sum_k a_k^2 / std_k^2

for the identity and expression coefficients ``a`` at a fixed camera (``Pi`` keeps x and
flips y), i.e. the MAP estimate under the model's Gaussian prior and i.i.d. landmark
noise of ``noise`` pixels.  Since ``(Pi R)^T (Pi R) = I - r3 r3^T`` (``r3`` the third row
of ``R``), the normal matrix is assembled from nine precomputed Gram blocks of the basis
instead of per-face products.

:meth:`ShapeBasis.fit_shared` solves the same problem with one coefficient vector shared
by every face of the batch (each at its own camera): the DFF paper's generic face model
(Sec. III-C4, eq. 11), refitted over the whole training set between SDM iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegeom.morphable_model import MorphableModel


def rotations(angles: np.ndarray) -> np.ndarray:
    """Batched :func:`facegeom.camera.rotation_matrix`: (B, 3) pitch, yaw, roll -> (B, 3, 3)."""
    a = np.asarray(angles, np.float64)
    cx, sx = np.cos(a[:, 0]), np.sin(a[:, 0])
    cy, sy = np.cos(a[:, 1]), np.sin(a[:, 1])
    cz, sz = np.cos(a[:, 2]), np.sin(a[:, 2])
    one, zero = np.ones_like(cx), np.zeros_like(cx)
    rx = np.stack([one, zero, zero, zero, cx, sx, zero, -sx, cx], -1).reshape(-1, 3, 3)
    ry = np.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).reshape(-1, 3, 3)
    rz = np.stack([cz, sz, zero, -sz, cz, zero, zero, zero, one], -1).reshape(-1, 3, 3)
    return rx @ ry @ rz


def project_points(pose: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Batched :func:`facegeom.camera.project`.

    Args:
        pose: (B, 6) cameras.
        points: (B, L, 3) or (L, 3) model-space points.
    Returns:
        (B, L, 3) image x, image y (pixels, y down), depth (larger = nearer); float32 for
        float32 points, else float64.
    """
    pose = np.asarray(pose, np.float64)
    rot = rotations(pose[:, 1:4])
    points = np.asarray(points)
    dtype = points.dtype if points.dtype in (np.float32, np.float64) else np.float64
    scaled = (pose[:, 0, None, None] * rot.transpose(0, 2, 1)).astype(dtype)  # f R^T
    p = np.matmul(points.astype(dtype, copy=False), scaled)
    p[..., 0] += pose[:, 4, None].astype(dtype)
    p[..., 1] = pose[:, 5, None].astype(dtype) - p[..., 1]
    return p


def frontal_template(model: MorphableModel) -> np.ndarray:
    """(68, 2) the mean landmarks seen frontally with ``f = 1`` and no offset (x, -y)."""
    lm = model.mean[model.landmarks].astype(np.float64)
    return np.stack([lm[:, 0], -lm[:, 1]], 1)


def camera_from_box(template: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Frontal cameras placing the template's bounding box on each face box.

    The scale is uniform (geometric mean of the width and height ratios) and the template
    box centre lands on the face box centre, as in the mean-shape baseline.

    Args:
        template: (68, 2) from :func:`frontal_template`.
        boxes: (B, 4) ``(x0, y0, x1, y1)`` pixels.
    Returns:
        (B, 6) poses with zero angles.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    lo, hi = template.min(0), template.max(0)
    size = np.sqrt(max(float(np.prod(hi - lo)), 1e-12))
    wh = np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6)
    f = np.sqrt(wh[:, 0] * wh[:, 1]) / size
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    t = centre - f[:, None] * (lo + hi) / 2
    pose = np.zeros((len(boxes), 6))
    pose[:, 0], pose[:, 4:] = f, t
    return pose


@dataclass(frozen=True)
class ShapeBasis:
    """A morphable model restricted to some vertices and leading components, for fitting.

    Attributes:
        mean: (L, 3) float64 mean positions of the vertices.
        basis: (L, 3, K) float64 identity then expression components (K = n_id + n_exp).
        inv_var: (K,) float64 ``1 / std^2`` of each coefficient.
        gram: (3, 3, K, K) float64, ``gram[c, d] = sum_l basis[l, c].T basis[l, d]``.
        n_id: number of identity components (the first ``n_id`` of K).
    """

    mean: np.ndarray
    basis: np.ndarray
    inv_var: np.ndarray
    gram: np.ndarray
    n_id: int

    @classmethod
    def from_model(
        cls, model: MorphableModel, vertex_ids: np.ndarray | None, n_id: int, n_exp: int
    ) -> ShapeBasis:
        """Restrict ``model`` to ``vertex_ids`` (None = all) and its first components."""
        ids = np.arange(model.n_vertices) if vertex_ids is None else np.asarray(vertex_ids)
        n_id, n_exp = min(n_id, model.n_id), min(n_exp, model.n_exp)
        rows = (3 * ids[:, None] + np.arange(3)[None]).reshape(-1)
        flat = np.concatenate([model.id_basis[rows, :n_id], model.exp_basis[rows, :n_exp]], 1)
        basis = flat.astype(np.float64).reshape(len(ids), 3, -1)
        std = np.concatenate([model.id_std[:n_id], model.exp_std[:n_exp]]).astype(np.float64)
        gram = np.einsum("lck,ldj->cdkj", basis, basis)
        return cls(model.mean[ids].astype(np.float64), basis, 1.0 / np.maximum(std, 1e-12) ** 2,
                   gram, n_id)

    @property
    def n_components(self) -> int:
        return int(self.inv_var.shape[0])

    def shapes(self, coeffs: np.ndarray) -> np.ndarray:
        """(B, K) coefficients -> (B, L, 3) model-space positions."""
        flat = np.asarray(coeffs, np.float64) @ self.basis.reshape(-1, self.n_components).T
        return self.mean[None] + flat.reshape(len(flat), -1, 3)

    def _normal_equations(self, pose: np.ndarray, target: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-face data terms of the least squares: ``f^2`` (B,), ``r3`` (B, 3) and ``rhs`` (B, K).

        Face b's normal matrix is ``f_b^2 (sum_c gram[c, c] - sum_cd r3_c r3_d gram[c, d])``
        (:meth:`_normal`); ``rhs`` is its right-hand side ``J_b^T (target_b - mean_b)``.
        """
        pose = np.asarray(pose, np.float64)
        rot = rotations(pose[:, 1:4])
        f = pose[:, 0]
        resid = np.asarray(target, np.float64) - project_points(pose, self.mean)[..., :2]
        flipped = np.stack([resid[..., 0], -resid[..., 1], np.zeros_like(resid[..., 0])], -1)
        u = np.matmul(flipped, rot)  # R^T Pi^T r per point, (B, L, 3)
        rhs = f[:, None] * (u.reshape(len(u), -1) @ self.basis.reshape(-1, self.n_components))
        return f**2, rot[:, 2, :], rhs

    def _normal(self, f2: np.ndarray, outer: np.ndarray) -> np.ndarray:
        """``f2 * total - outer . gram``: f2 scalar or (B,), outer (9,) or (B, 9) -> (K, K) or (B, K, K)."""
        k = self.n_components
        total = self.gram[0, 0] + self.gram[1, 1] + self.gram[2, 2]
        return np.multiply.outer(f2, total) - (outer @ self.gram.reshape(9, k * k)).reshape(
            np.shape(f2) + (k, k))

    def fit(self, pose: np.ndarray, target: np.ndarray, noise: float | np.ndarray) -> np.ndarray:
        """MAP coefficients at fixed cameras (see the module docstring).

        Args:
            pose: (B, 6) cameras.
            target: (B, L, 2) target image positions, pixels.
            noise: landmark noise std in pixels, scalar or (B,); larger = stronger prior.
        Returns:
            (B, K) float64 coefficients.
        """
        f2, r3, rhs = self._normal_equations(pose, target)
        outer = (r3[:, :, None] * r3[:, None, :]).reshape(-1, 9) * f2[:, None]
        normal = self._normal(f2, outer)
        lam = np.broadcast_to(np.asarray(noise, np.float64) ** 2, f2.shape)
        normal += lam[:, None, None] * np.diag(self.inv_var)[None]
        return np.linalg.solve(normal, rhs[..., None])[..., 0]

    def fit_shared(self, pose: np.ndarray, target: np.ndarray, noise: float) -> np.ndarray:
        """One MAP coefficient vector for the whole batch (the generic face model).

        Solves ``min_p sum_b sum_l || f_b Pi R_b (m_l + B_l p) + t_b - x_bl ||^2
        + noise^2 sum_k p_k^2 / std_k^2``: every face keeps its own camera, all share the
        shape; the prior enters once (one shape, B * L observations).

        Args:
            pose: (B, 6) cameras.
            target: (B, L, 2) target image positions, pixels.
            noise: landmark noise std in pixels.
        Returns:
            (K,) float64 coefficients.
        """
        f2, r3, rhs = self._normal_equations(pose, target)
        outer = np.einsum("b,bc,bd->cd", f2, r3, r3).reshape(9)
        normal = self._normal(float(f2.sum()), outer)
        normal += float(noise) ** 2 * np.diag(self.inv_var)
        return np.linalg.solve(normal, rhs.sum(0))
