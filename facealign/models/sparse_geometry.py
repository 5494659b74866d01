"""Differentiable projection of a sparse vertex subset from batched parameter vectors.

Used by the losses (WPDC, VDC) and by the validation NME: the 68 landmarks come first,
then ``n_sparse`` vertices spread evenly over the mesh.  Projection follows
:func:`facegeom.camera.project_torch`: image x right, y down, depth larger = nearer, in
the pixels of whatever frame the parameters refer to (the crop during training).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from facegeom.camera import project_torch
from facegeom.morphable_model import N_LANDMARKS, MorphableModel
from facegeom.parameters import N_POSE


def sparse_vertex_ids(model: MorphableModel, n_sparse: int) -> np.ndarray:
    """The 68 landmark vertices followed by ``n_sparse`` evenly spaced vertex indices, (68 + n,)."""
    spread = np.linspace(0, model.n_vertices - 1, max(int(n_sparse), 0)).round().astype(np.int64)
    return np.concatenate([model.landmarks.astype(np.int64), spread])


class SparseGeometry(nn.Module):
    """A vertex subset of a morphable model as torch buffers.

    Buffers: ``mean`` (n, 3), ``basis`` (3n, K_id + K_exp) xyz interleaved, ``basis_norm``
    (K_id + K_exp,) the column norms of ``basis`` (vertex displacement per unit coefficient).
    """

    def __init__(self, model: MorphableModel, n_sparse: int = 0) -> None:
        super().__init__()
        ids = sparse_vertex_ids(model, n_sparse)
        rows = (3 * ids[:, None] + np.arange(3)[None]).reshape(-1)
        basis = np.concatenate([model.id_basis[rows], model.exp_basis[rows]], axis=1)
        self.register_buffer("mean", torch.as_tensor(model.mean[ids], dtype=torch.float32))
        self.register_buffer("basis", torch.as_tensor(basis, dtype=torch.float32))
        self.register_buffer("basis_norm", torch.linalg.vector_norm(self.basis, dim=0))
        self.n_vertices = len(ids)

    def shape(self, params: torch.Tensor) -> torch.Tensor:
        """(B, P) -> (B, n, 3) model-space vertices, in the dtype of ``params``."""
        mean, basis = self.mean.to(params.dtype), self.basis.to(params.dtype)
        return mean[None] + (params[:, N_POSE:] @ basis.T).view(params.shape[0], -1, 3)

    def project(self, params: torch.Tensor) -> torch.Tensor:
        """(B, P) -> (B, n, 3) image-space vertices (x, y pixels, y down; depth)."""
        return project_torch(params[:, :N_POSE], self.shape(params))

    def landmarks(self, params: torch.Tensor) -> torch.Tensor:
        """(B, P) -> (B, 68, 2) landmark pixels."""
        mean, basis = self.mean[:N_LANDMARKS].to(params.dtype), self.basis[: 3 * N_LANDMARKS].to(params.dtype)
        shape = mean[None] + (params[:, N_POSE:] @ basis.T).view(-1, N_LANDMARKS, 3)
        return project_torch(params[:, :N_POSE], shape)[..., :2]


def nme_torch(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Per-image NME (fraction): mean point error / sqrt(w * h) of the gt box; (B, 68, 2) x2 -> (B,)."""
    wh = gt.amax(1) - gt.amin(1)
    size = torch.sqrt(wh[:, 0] * wh[:, 1]).clamp_min(1e-6)
    return torch.linalg.vector_norm(pred - gt, dim=-1).mean(1) / size
