"""Training losses of a cascade stage: PDC, WPDC and VDC (3DDFA's three choices).

Every loss takes the network output and the target as **normalised** updates (B, P)
(z-scores of ``p* - p_k`` under the stage's statistics) and the current estimate
``p_k`` (B, P) in raw units (crop frame), so it can rebuild raw parameters:
``p_pred = p_k + denormalize(pred)``, ``p* = p_k + denormalize(target)``.

* ``pdc``  plain parameter distance: mean squared error of the normalised updates.
* ``wpdc`` weighted parameter distance: each dimension's squared error is weighted by the
  vertex displacement that dimension's error alone causes,
  ``w_i = || V(p* + (p_pred - p*)_i e_i) - V(p*) ||`` over a sparse vertex set, scaled to
  max 1 per sample and held constant (no gradient), as in 3DDFA.
* ``vdc``  vertex distance: mean squared 3D distance between the sparse vertices of
  ``p_pred`` and ``p*``, in units of the crop side.

The L2 weight regularisation of the paper's loss is applied as the optimiser's weight
decay (the gradient of ``lambda/2 * ||W||^2``), see :mod:`lightning_modules.cascade_module`.
"""

from __future__ import annotations

import torch
from torch import nn

from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry
from facegeom.camera import project_torch
from facegeom.parameters import N_POSE

LOSSES = ("pdc", "wpdc", "vdc")


def wpdc_weights(p_true: torch.Tensor, p_pred: torch.Tensor, geometry: SparseGeometry) -> torch.Tensor:
    """Per-dimension WPDC weights (B, P) in [0, 1], without gradient.

    Args:
        p_true, p_pred: (B, P) raw parameters (pose radians / pixels, raw coefficients).
        geometry: the vertex subset the displacement is measured on.
    """
    with torch.no_grad():
        err = (p_pred - p_true).abs()
        shape = geometry.shape(p_true)  # (B, n, 3)
        f = p_true[:, 0].abs()
        n = float(geometry.n_vertices)
        w = torch.empty_like(p_true)
        w[:, 0] = err[:, 0] * torch.linalg.vector_norm(shape.flatten(1), dim=1)  # rotation keeps norms
        base = project_torch(p_true[:, :N_POSE], shape)
        for i in (1, 2, 3):  # pitch, yaw, roll: reproject with one angle off by its error
            pose = p_true[:, :N_POSE].clone()
            pose[:, i] = p_pred[:, i]
            w[:, i] = torch.linalg.vector_norm((project_torch(pose, shape) - base).flatten(1), dim=1)
        w[:, 4:6] = err[:, 4:6] * n**0.5  # a translation moves every vertex by the same amount
        w[:, N_POSE:] = err[:, N_POSE:] * f[:, None] * geometry.basis_norm[None]
        return w / w.amax(1, keepdim=True).clamp_min(1e-12)


class CascadeLoss(nn.Module):
    """One of :data:`LOSSES` for a stage with update statistics ``delta_stats``.

    Args:
        kind: ``pdc`` | ``wpdc`` | ``vdc``.
        geometry: sparse vertices for ``wpdc`` / ``vdc``.
        delta_stats: z-score of the stage's updates ``p* - p_k`` (crop frame).
        input_size: crop side in pixels (the unit of ``vdc``).
    """

    def __init__(self, kind: str, geometry: SparseGeometry, delta_stats: ZScore, input_size: int) -> None:
        super().__init__()
        if kind not in LOSSES:
            raise ValueError(f"unknown loss {kind!r} (have: {', '.join(LOSSES)})")
        self.kind, self.geometry, self.input_size = kind, geometry, float(input_size)
        self.register_buffer("delta_mean", torch.as_tensor(delta_stats.mean))
        self.register_buffer("delta_std", torch.as_tensor(delta_stats.std))

    def raw(self, z: torch.Tensor, p_k: torch.Tensor) -> torch.Tensor:
        """Normalised update (B, P) + current estimate (B, P) -> raw parameters (B, P)."""
        return p_k + z * self.delta_std + self.delta_mean

    def forward(self, pred: torch.Tensor, target: torch.Tensor, p_k: torch.Tensor) -> torch.Tensor:
        if self.kind == "pdc":
            return ((pred - target) ** 2).mean()
        p_true, p_pred = self.raw(target, p_k), self.raw(pred, p_k)
        if self.kind == "wpdc":
            weights = wpdc_weights(p_true, p_pred, self.geometry)
            return (weights * (pred - target) ** 2).mean()
        diff = (self.geometry.project(p_pred) - self.geometry.project(p_true)) / self.input_size
        return (diff**2).sum(-1).mean()
