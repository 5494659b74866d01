"""Per-dimension z-score normalisation of 3DMM parameter vectors (or their updates).

The cascade regresses ``(p* - p_k - mean) / std`` for every dimension of the parameter
vector (6 pose + K_id + K_exp, see :mod:`facegeom.parameters`).  The statistics come from
the training set and travel with the trained model as plain arrays in an ``.npz``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from faceio.atomic import atomic_path


@dataclass(frozen=True)
class ZScore:
    """``normalize(x) = (x - mean) / std`` per dimension.

    Attributes:
        mean: (P,) float32, in the units of the parameter (radians, pixels, raw coefficients).
        std: (P,) float32, strictly positive.
    """

    mean: np.ndarray
    std: np.ndarray

    def __post_init__(self) -> None:
        if self.mean.shape != self.std.shape or self.mean.ndim != 1:
            raise ValueError(f"ZScore mean {self.mean.shape} and std {self.std.shape} must be equal (P,)")
        if not (np.all(np.isfinite(self.std)) and np.all(self.std > 0)):
            raise ValueError("ZScore std must be finite and positive")

    @classmethod
    def fit(cls, values: np.ndarray, floor: float = 1e-6) -> ZScore:
        """Statistics of ``values`` (M, P); each std is at least ``floor`` times the largest std."""
        values = np.asarray(values, np.float64)
        if values.ndim != 2 or values.shape[0] < 2:
            raise ValueError(f"ZScore.fit needs (M >= 2, P) values, got {values.shape}")
        mean, std = values.mean(0), values.std(0)
        std = np.maximum(std, floor * max(float(std.max()), 1e-12))
        return cls(mean.astype(np.float32), std.astype(np.float32))

    @property
    def size(self) -> int:
        return int(self.mean.shape[0])

    def normalize(self, x: np.ndarray) -> np.ndarray:
        """(..., P) raw -> (..., P) float32 z-scores."""
        return ((np.asarray(x, np.float64) - self.mean) / self.std).astype(np.float32)

    def denormalize(self, z: np.ndarray) -> np.ndarray:
        """(..., P) z-scores -> (..., P) float64 raw values."""
        return np.asarray(z, np.float64) * self.std + self.mean

    def denormalize_torch(self, z: torch.Tensor) -> torch.Tensor:
        """Differentiable :meth:`denormalize` on the tensor's device and dtype."""
        mean = torch.as_tensor(self.mean, device=z.device, dtype=z.dtype)
        std = torch.as_tensor(self.std, device=z.device, dtype=z.dtype)
        return z * std + mean

    def to_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """``{prefix_mean, prefix_std}`` for :func:`save_stats`."""
        return {f"{prefix}_mean": self.mean, f"{prefix}_std": self.std}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray] | np.lib.npyio.NpzFile, prefix: str) -> ZScore:
        try:
            return cls(np.asarray(arrays[f"{prefix}_mean"], np.float32),
                       np.asarray(arrays[f"{prefix}_std"], np.float32))
        except KeyError as exc:
            raise ValueError(f"normalisation statistics {prefix!r} missing ({exc})") from exc


def save_stats(path: str | Path, stats: dict[str, ZScore], **extra: np.ndarray) -> None:
    """Write named statistics (and extra plain arrays) to an uncompressed ``.npz``, atomically."""
    path = Path(path)
    arrays: dict[str, np.ndarray] = dict(extra)
    for name, stat in stats.items():
        arrays.update(stat.to_arrays(name))
    with atomic_path(path) as tmp:
        np.savez(tmp, **arrays)


def load_stats(path: str | Path, names: list[str]) -> dict[str, ZScore]:
    """Read the statistics ``names`` written by :func:`save_stats`; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: normalisation statistics not found")
    with np.load(path, allow_pickle=False) as data:
        try:
            return {name: ZScore.from_arrays(data, name) for name in names}
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc
