"""The 3D morphable face model (3DMM) shared by every part of facealign.

A face shape is ``S = S_mean + A_id @ a_id + A_exp @ a_exp``.

Coordinate convention (model space, as the Basel Face Model): x points to the
image right of a frontal face (the subject's left), y points up, z points out of
the face towards the camera.  Units are the model's own (millimetres for the
embedded procedural model, BFM units for loaded Basel models); a weak-perspective
camera scale absorbs them.

Shapes: ``N`` vertices, ``T`` triangles, ``K_id`` identity and ``K_exp``
expression components.  Bases are stored flattened with xyz interleaved per
vertex (row ``3*v + c`` is coordinate ``c`` of vertex ``v``), as in BFM.
Coefficients are raw: ``a_id[k]`` has standard deviation ``id_std[k]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from faceio.atomic import atomic_path

N_LANDMARKS = 68


@dataclass(frozen=True)
class MorphableModel:
    """A linear face model with landmarks and jaw-contour candidates.

    Attributes:
        mean: (N, 3) float32 mean shape.
        id_basis: (3N, K_id) float32 identity basis, xyz interleaved.
        id_std: (K_id,) float32 standard deviation of each identity coefficient.
        exp_basis: (3N, K_exp) float32 expression basis, xyz interleaved.
        exp_std: (K_exp,) float32 standard deviation of each expression coefficient.
        triangles: (T, 3) int32 vertex indices, 0-based.
        landmarks: (68,) int64 vertex index of each iBUG-68 landmark, 0-based.
        contour_left: (M_l,) int64 jaw-contour candidate vertices on the image-left
            side of a frontal face (iBUG points 0..7 side).
        contour_right: (M_r,) int64 candidates on the image-right side (points 9..16).
        name: a short label ("procedural", "bfm", "sfm", ...).
    """

    mean: np.ndarray
    id_basis: np.ndarray
    id_std: np.ndarray
    exp_basis: np.ndarray
    exp_std: np.ndarray
    triangles: np.ndarray
    landmarks: np.ndarray
    contour_left: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    contour_right: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    name: str = "model"

    def __post_init__(self) -> None:
        n = self.mean.shape[0]
        checks = {
            "mean": self.mean.shape == (n, 3),
            "id_basis": self.id_basis.shape == (3 * n, self.id_std.shape[0]),
            "exp_basis": self.exp_basis.shape == (3 * n, self.exp_std.shape[0]),
            "triangles": self.triangles.ndim == 2 and self.triangles.shape[1] == 3,
            "landmarks": self.landmarks.shape == (N_LANDMARKS,),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"MorphableModel field {name!r} has a wrong shape")
        if self.triangles.size and (self.triangles.min() < 0 or self.triangles.max() >= n):
            raise ValueError("MorphableModel field 'triangles' indexes outside the vertices")
        if self.landmarks.min() < 0 or self.landmarks.max() >= n:
            raise ValueError("MorphableModel field 'landmarks' indexes outside the vertices")

    # -- sizes ---------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return int(self.mean.shape[0])

    @property
    def n_id(self) -> int:
        return int(self.id_std.shape[0])

    @property
    def n_exp(self) -> int:
        return int(self.exp_std.shape[0])

    # -- reconstruction --------------------------------------------------------
    def vertices(self, id_coeff: np.ndarray, exp_coeff: np.ndarray) -> np.ndarray:
        """Shapes from raw coefficients.

        Args:
            id_coeff: (K_id,) or (B, K_id).
            exp_coeff: (K_exp,) or (B, K_exp).
        Returns:
            (N, 3) or (B, N, 3) float32 vertices in model units.
        """
        a_id = np.atleast_2d(np.asarray(id_coeff, np.float32))
        a_exp = np.atleast_2d(np.asarray(exp_coeff, np.float32))
        flat = a_id @ self.id_basis.T + a_exp @ self.exp_basis.T
        out = self.mean[None] + flat.reshape(flat.shape[0], -1, 3)
        return out[0] if np.ndim(id_coeff) == 1 else out

    def vertices_torch(self, id_coeff: torch.Tensor, exp_coeff: torch.Tensor) -> torch.Tensor:
        """Differentiable batched reconstruction: (B, K_id), (B, K_exp) -> (B, N, 3)."""
        dev, dt = id_coeff.device, id_coeff.dtype
        mean = torch.as_tensor(self.mean, device=dev, dtype=dt)
        a_id = torch.as_tensor(self.id_basis, device=dev, dtype=dt)
        a_exp = torch.as_tensor(self.exp_basis, device=dev, dtype=dt)
        flat = id_coeff @ a_id.T + exp_coeff @ a_exp.T
        return mean[None] + flat.reshape(flat.shape[0], -1, 3)

    def subset(self, vertex_ids: np.ndarray) -> MorphableModel:
        """The model restricted to some vertices (no triangles), e.g. the 68 landmarks.

        The returned model's ``landmarks`` are ``arange(68)`` when ``vertex_ids`` is
        ``self.landmarks``; otherwise they index into ``vertex_ids`` where possible.
        """
        vertex_ids = np.asarray(vertex_ids, np.int64)
        rows = (3 * vertex_ids[:, None] + np.arange(3)[None]).reshape(-1)
        lookup = {int(v): i for i, v in enumerate(vertex_ids)}
        lm = np.array([lookup.get(int(v), 0) for v in self.landmarks], np.int64)
        return MorphableModel(
            mean=self.mean[vertex_ids], id_basis=self.id_basis[rows], id_std=self.id_std,
            exp_basis=self.exp_basis[rows], exp_std=self.exp_std,
            triangles=np.zeros((0, 3), np.int32), landmarks=lm, name=f"{self.name}-subset",
        )

    def truncated(self, n_id: int, n_exp: int) -> MorphableModel:
        """The model keeping only the first ``n_id`` identity / ``n_exp`` expression components."""
        return MorphableModel(
            mean=self.mean, id_basis=self.id_basis[:, :n_id], id_std=self.id_std[:n_id],
            exp_basis=self.exp_basis[:, :n_exp], exp_std=self.exp_std[:n_exp],
            triangles=self.triangles, landmarks=self.landmarks,
            contour_left=self.contour_left, contour_right=self.contour_right, name=self.name,
        )

    def ncc(self) -> np.ndarray:
        """Normalised Coordinate Code: the mean shape scaled to [0, 1] per axis, (N, 3)."""
        lo, hi = self.mean.min(0), self.mean.max(0)
        return ((self.mean - lo) / np.maximum(hi - lo, 1e-12)).astype(np.float32)

    # -- persistence -----------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the model as an uncompressed ``.npz`` (atomically: temp file, then rename)."""
        with atomic_path(path) as tmp:
            np.savez(
                tmp, mean=self.mean, id_basis=self.id_basis, id_std=self.id_std,
                exp_basis=self.exp_basis, exp_std=self.exp_std, triangles=self.triangles,
                landmarks=self.landmarks, contour_left=self.contour_left,
                contour_right=self.contour_right, name=np.array(self.name),
            )

    @classmethod
    def load(cls, path: str | Path) -> MorphableModel:
        """Read a model written by :meth:`save`; errors name the file and the field."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: face model not found (run `dvc repro build_face_model`)")
        try:
            data = np.load(path, allow_pickle=False)
        except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error to users
            raise ValueError(f"{path}: not a readable .npz morphable model ({exc})") from exc
        required = ["mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "landmarks"]
        for key in required:
            if key not in data.files:
                raise ValueError(f"{path}: missing field {key!r}")
        try:
            return cls(
                mean=data["mean"].astype(np.float32),
                id_basis=data["id_basis"].astype(np.float32),
                id_std=data["id_std"].astype(np.float32),
                exp_basis=data["exp_basis"].astype(np.float32),
                exp_std=data["exp_std"].astype(np.float32),
                triangles=data["triangles"].astype(np.int32),
                landmarks=data["landmarks"].astype(np.int64),
                contour_left=data["contour_left"].astype(np.int64)
                if "contour_left" in data.files else np.zeros(0, np.int64),
                contour_right=data["contour_right"].astype(np.int64)
                if "contour_right" in data.files else np.zeros(0, np.int64),
                name=str(data["name"]) if "name" in data.files else path.stem,
            )
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
