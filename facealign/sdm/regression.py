"""Closed-form ridge regression and the cascade of SDM descent maps.

One descent map per iteration: ``delta = F @ matrix + bias`` maps the concatenated
descriptors ``F`` (B, D) to the update of the state (B, M) - the 2L landmark offsets
followed by the 6 camera offsets.  All outputs share one ridge problem, solved in its
primal form (D x D system) or dual form (N x N system), whichever is smaller; both give
the same solution.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.linalg


@dataclass(frozen=True)
class DescentMap:
    """One linear update. ``matrix`` (D, M) float32, ``bias`` (M,) float64."""

    matrix: np.ndarray
    bias: np.ndarray

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """(B, D) -> (B, M) float64."""
        return (np.asarray(features, np.float32) @ self.matrix).astype(np.float64) + self.bias


def ridge(features: np.ndarray, targets: np.ndarray, strength: float) -> DescentMap:
    """Fit ``targets ~ features @ W + b`` by ridge regression (intercept unpenalised).

    The penalty is ``lam * ||W||^2`` with ``lam = strength * sum(Fc**2) / D`` (``Fc`` the
    centred features), i.e. ``strength`` times the summed per-feature variance over the
    samples, which makes ``strength`` independent of the descriptor's scale and length.

    Args:
        features: (N, D) samples.
        targets: (N, M) regression targets.
        strength: relative ridge strength, > 0.
    """
    if strength <= 0:
        raise ValueError(f"ridge strength must be positive, got {strength}")
    f = np.asarray(features, np.float32)
    y = np.asarray(targets, np.float64)
    n, d = f.shape
    f_mean, y_mean = f.mean(0, dtype=np.float64), y.mean(0)
    fc = f - f_mean.astype(np.float32)
    yc = y - y_mean
    lam = strength * float(np.einsum("ij,ij->", fc, fc, dtype=np.float64)) / d
    lam = max(lam, 1e-12)
    if n <= d:
        gram = (fc @ fc.T).astype(np.float64)
        gram[np.diag_indices(n)] += lam
        alpha = scipy.linalg.solve(gram, yc, assume_a="pos")
        w = fc.T @ alpha.astype(np.float32)
    else:
        gram = (fc.T @ fc).astype(np.float64)
        gram[np.diag_indices(d)] += lam
        w = scipy.linalg.solve(gram, (fc.T @ yc.astype(np.float32)).astype(np.float64), assume_a="pos")
    w = np.asarray(w, np.float32)
    return DescentMap(w, y_mean - f_mean @ w.astype(np.float64))


@dataclass(frozen=True)
class Cascade:
    """The learned model: one :class:`DescentMap` per SDM iteration."""

    maps: tuple[DescentMap, ...]

    def __len__(self) -> int:
        return len(self.maps)

    def save(self, path: str | Path) -> None:
        """Write ``matrix_k`` / ``bias_k`` arrays to an ``.npz`` (temp file, then rename).

        Each matrix is stored as float16 times a per-matrix float32 scale (``scale_k``, its
        largest magnitude over 2^14), half the size of float32; relative error ~5e-4.
        """
        path = Path(path)
        arrays = {}
        for k, m in enumerate(self.maps):
            scale = np.float32(max(float(np.abs(m.matrix).max()), 1e-30) / 2.0**14)
            arrays[f"matrix_{k}"] = (m.matrix / scale).astype(np.float16)
            arrays[f"scale_{k}"], arrays[f"bias_{k}"] = np.array(scale), m.bias
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez(tmp, n_maps=np.array(len(self.maps)), **arrays)
        tmp.replace(path)

    @classmethod
    def load(cls, path: str | Path) -> Cascade:
        """Inverse of :meth:`save`; errors name the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: SDM cascade not found")
        data = np.load(path, allow_pickle=False)
        if "n_maps" not in data.files:
            raise ValueError(f"{path}: missing field 'n_maps'")
        maps = []
        for k in range(int(data["n_maps"])):
            if f"matrix_{k}" not in data.files or f"bias_{k}" not in data.files:
                raise ValueError(f"{path}: missing field 'matrix_{k}' or 'bias_{k}'")
            scale = np.float32(data[f"scale_{k}"]) if f"scale_{k}" in data.files else np.float32(1.0)
            maps.append(DescentMap(data[f"matrix_{k}"].astype(np.float32) * scale,
                                   data[f"bias_{k}"].astype(np.float64)))
        return cls(tuple(maps))
