"""Multi-head angular softmax (A-Softmax with margin m = 1) over unit descriptors.

Each of ``S`` heads classifies a descriptor into one of ``P`` patches of its own
segmentation.  A head's class vectors are L2-normalised and so are the descriptors, so the
logit of class ``p`` is ``scale * cos(theta_p)``, the cosine of the angle between the
descriptor and the class vector (A-Softmax with m = 1 and unit features; ``scale`` makes the
softmax sharp enough to train).  All heads are one ``(S, P, D)`` parameter and one batched
product.

The loss of one image and one head is the cross-entropy averaged over the image's valid
(visible-face) pixels; images are averaged over the batch and the heads are summed.

Class vectors start either random (``init="random"``) or geometric
(:func:`geometric_class_vectors`): every head's vector of a patch is the mean, over the
patch's surface, of one shared smooth embedding of the 3D mean face, so that all heads
agree from the first step on which descriptor each surface point should have.  Training
with random starts has to break the heads' disagreement first and is far slower.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


class MultiHeadAngularSoftmax(nn.Module):
    """``S`` cosine classifiers sharing one weight tensor.

    Args:
        n_heads: S, one per segmentation.
        n_classes: P, patches per segmentation.
        dim: D, descriptor length.
        scale: the logit scale ``s`` in ``s * cos(theta)``.
    """

    def __init__(self, n_heads: int, n_classes: int, dim: int, scale: float = 16.0) -> None:
        super().__init__()
        if min(n_heads, n_classes, dim) < 1 or scale <= 0:
            raise ValueError("n_heads, n_classes, dim and scale must be positive")
        self.scale = float(scale)
        self.weight = nn.Parameter(F.normalize(torch.randn(n_heads, n_classes, dim), dim=-1))

    @property
    def n_heads(self) -> int:
        return int(self.weight.shape[0])

    @property
    def n_classes(self) -> int:
        return int(self.weight.shape[1])

    def cosines(self, features: torch.Tensor) -> torch.Tensor:
        """(..., D) unit descriptors -> (S, ..., P) cosines to every class vector of every head."""
        w = F.normalize(self.weight, dim=-1)
        flat = features.reshape(-1, features.shape[-1])
        cos = torch.einsum("nd,spd->snp", flat, w)
        return cos.reshape(self.n_heads, *features.shape[:-1], self.n_classes)

    def forward(self, features: torch.Tensor, labels: torch.Tensor,
                valid: torch.Tensor | None = None) -> torch.Tensor:
        """The summed-over-heads loss.

        Args:
            features: (B, K, D) unit descriptors of K sampled pixels per image.
            labels: (S, B, K) int64 patch of every sampled pixel in every segmentation.
            valid: (B, K) bool, False for padding samples (e.g. an image with too few
                visible pixels); None means all valid.
        Returns:
            scalar: sum over heads of the batch mean of per-image mean cross-entropy.
        """
        b, k, _ = features.shape
        if labels.shape != (self.n_heads, b, k):
            raise ValueError(f"labels must be {(self.n_heads, b, k)}, got {tuple(labels.shape)}")
        logits = self.scale * self.cosines(features)  # (S, B, K, P)
        ce = F.cross_entropy(logits.reshape(-1, self.n_classes), labels.reshape(-1), reduction="none")
        ce = ce.view(self.n_heads, b, k)
        if valid is None:
            per_image = ce.mean(dim=2)
        else:
            w = valid.to(ce.dtype)
            per_image = (ce * w).sum(dim=2) / w.sum(dim=1).clamp(min=1.0)
            has_pixels = (w.sum(dim=1) > 0).to(ce.dtype)
            per_image = per_image * has_pixels * (b / has_pixels.sum().clamp(min=1.0))
        return per_image.mean(dim=1).sum()

    @torch.no_grad()
    def accuracy(self, features: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(S,) fraction of (B, K) samples whose nearest class vector is the label, per head."""
        pred = self.cosines(features).argmax(dim=-1)
        return (pred == labels).float().flatten(1).mean(dim=1)


def geometric_class_vectors(centroids: np.ndarray, areas: np.ndarray, lut: np.ndarray, n_patches: int,
                            dim: int, bandwidth: float, seed: int = 0) -> np.ndarray:
    """Class vectors from a smooth embedding of the surface: random Fourier features.

    Each triangle centroid ``c`` maps to ``[cos(W c), sin(W c)] / sqrt(dim / 2)`` with
    ``W ~ N(0, 1 / (bandwidth * extent)^2)`` (``extent``: the mesh's largest side), so points
    much closer than ``bandwidth * extent`` get nearly parallel vectors.  A patch's vector is
    the area-weighted mean over its triangles, normalised.

    Args:
        centroids: (T, 3) triangle centroids of the mean face.
        areas: (T,) triangle areas.
        lut: (S, T) patch of each triangle per segmentation.
        n_patches: P.
        dim: D, even.
        bandwidth: smoothness, fraction of the mesh extent.
        seed: seed of ``W``.
    Returns:
        (S, P, D) float32 unit vectors.
    """
    if dim % 2:
        raise ValueError(f"geometric class vectors need an even descriptor length, got {dim}")
    extent = float(np.ptp(centroids, axis=0).max())
    freq = np.random.default_rng(seed).normal(0.0, 1.0 / (bandwidth * extent), (dim // 2, 3))
    phase = centroids @ freq.T
    embed = np.concatenate([np.cos(phase), np.sin(phase)], axis=1) * areas[:, None]
    out = np.zeros((lut.shape[0], n_patches, dim))
    for s, labels in enumerate(np.asarray(lut, np.int64)):
        np.add.at(out[s], labels, embed)
    out /= np.maximum(np.linalg.norm(out, axis=-1, keepdims=True), 1e-12)
    return out.astype(np.float32)
