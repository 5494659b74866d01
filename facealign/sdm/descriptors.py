"""Local descriptors sampled at projected landmarks: Deep Face Feature (DFF) and SIFT.

Both work on square face crops of ``image_size`` pixels (RGB uint8) in two steps:
``prepare`` does the per-image work once (the DFF network pass, the grey conversion for
SIFT) and ``sample`` reads descriptors at sub-pixel points (x right, y down, pixel
centres at integers) for every SDM iteration.  Points marked invisible get all-zero
descriptors, so they contribute nothing to the linear regressions.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

import cv2
import numpy as np


class Descriptor(Protocol):
    """What the SDM needs of a descriptor."""

    name: str
    dim: int  # values per point
    image_size: int  # side of the square working crop, pixels

    def prepare(self, crops: np.ndarray) -> Any:
        """Per-image work on (B, S, S, 3) uint8 RGB crops; the result goes to :meth:`sample`."""
        ...

    def sample(self, prepared: Any, points: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """Descriptors at points (B, L, 2) -> (B, L * dim) float32, zeros where not visible."""
        ...


class DescriptorExtractor(Protocol):
    """The dense DFF network: ``describe`` (B, S, S, 3) uint8 -> (B, dim, S, S) float32."""

    image_size: int
    dim: int

    def describe(self, images: np.ndarray) -> np.ndarray: ...


def bilinear_sample(maps: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear interpolation of channel-last maps, clamped at the border.

    Args:
        maps: (B, H, W, C) feature maps (any float dtype).
        points: (B, L, 2) x, y in pixels (pixel (i, j) has its centre at x=j, y=i).
    Returns:
        (B, L, C) float32.
    """
    _, h, w, _ = maps.shape
    x = np.clip(np.asarray(points[..., 0], np.float64), 0, w - 1)
    y = np.clip(np.asarray(points[..., 1], np.float64), 0, h - 1)
    x0 = np.minimum(np.floor(x).astype(np.int64), w - 2) if w > 1 else np.zeros_like(x, np.int64)
    y0 = np.minimum(np.floor(y).astype(np.int64), h - 2) if h > 1 else np.zeros_like(y, np.int64)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    wx, wy = (x - x0)[..., None], (y - y0)[..., None]
    b = np.arange(maps.shape[0])[:, None]

    def at(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
        return maps[b, yy, xx].astype(np.float32)

    top = at(y0, x0) * (1 - wx) + at(y0, x1) * wx
    bottom = at(y1, x0) * (1 - wx) + at(y1, x1) * wx
    return (top * (1 - wy) + bottom * wy).astype(np.float32)


class DFFDescriptor:
    """Deep Face Feature descriptors, bilinearly sampled from the network's dense output.

    ``prepare`` keeps the maps channel-last in float16 ((B, S, S, dim), 2 bytes a value)
    so that a training set's maps fit in memory.
    """

    name = "dff"

    def __init__(self, extractor: DescriptorExtractor, batch_size: int = 32) -> None:
        self.extractor = extractor
        self.dim = int(extractor.dim)
        self.image_size = int(extractor.image_size)
        self.batch_size = int(batch_size)

    def prepare(self, crops: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 -> (B, S, S, dim) float16 descriptor maps."""
        out = np.empty((len(crops), self.image_size, self.image_size, self.dim), np.float16)
        for start in range(0, len(crops), self.batch_size):
            maps = self.extractor.describe(crops[start : start + self.batch_size])
            out[start : start + len(maps)] = np.transpose(maps, (0, 2, 3, 1))
        return out

    def sample(self, prepared: np.ndarray, points: np.ndarray, visible: np.ndarray) -> np.ndarray:
        values = bilinear_sample(prepared, points) * visible[..., None]
        return values.reshape(len(values), -1)


class SIFTDescriptor:
    """OpenCV SIFT descriptors (128-d) at given keypoints of one fixed size and orientation.

    Args:
        image_size: working crop side, pixels.
        patch: width of the descriptor window (its 4 x 4 cells) as a fraction of the crop;
            OpenCV's keypoint size is a sixth of that width.
        workers: threads computing descriptors (default: one per CPU core).
    Each descriptor is scaled to unit L2 norm (OpenCV's are scaled to 512).  Descriptors are
    read from the full-resolution octave (reading large windows from a coarser octave is 3-4x
    faster but lost 0.9 points of NME on the synthetic set).
    """

    name = "sift"
    dim = 128

    def __init__(self, image_size: int = 120, patch: float = 0.2, workers: int | None = None) -> None:
        self.image_size = int(image_size)
        self.patch = float(patch)
        self.workers = max(1, int(workers if workers is not None else os.cpu_count() or 1))

    @property
    def keypoint_size(self) -> float:
        """OpenCV ``KeyPoint.size`` in pixels of the working crop."""
        return self.patch * self.image_size / 6.0

    def prepare(self, crops: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 RGB -> (B, S, S) uint8 grey."""
        return np.stack([cv2.cvtColor(np.ascontiguousarray(c), cv2.COLOR_RGB2GRAY) for c in crops])

    def sample(self, prepared: np.ndarray, points: np.ndarray, visible: np.ndarray) -> np.ndarray:
        """See :class:`Descriptor`; images are split over ``workers`` threads (OpenCV frees the GIL)."""
        out = np.zeros((len(prepared), points.shape[1], self.dim), np.float32)
        chunks = [c for c in np.array_split(np.arange(len(prepared)), self.workers) if len(c)]
        if len(chunks) <= 1:
            self._sample_into(out, prepared, points, visible, np.arange(len(prepared)))
        else:
            with ThreadPoolExecutor(len(chunks)) as pool:
                list(pool.map(lambda c: self._sample_into(out, prepared, points, visible, c), chunks))
        return out.reshape(len(out), -1)

    def _sample_into(self, out: np.ndarray, prepared: np.ndarray, points: np.ndarray,
                     visible: np.ndarray, images: np.ndarray) -> None:
        sift = cv2.SIFT_create()  # one per thread
        size = self.keypoint_size
        for b in images:
            idx = np.flatnonzero(visible[b])
            if not len(idx):
                continue
            kps = [cv2.KeyPoint(float(points[b, i, 0]), float(points[b, i, 1]), size, 0.0, 0.0, 0, int(i))
                   for i in idx]
            kps, desc = sift.compute(prepared[b], kps)
            if desc is None:
                continue
            rows = np.array([k.class_id for k in kps], np.int64)
            norms = np.linalg.norm(desc, axis=1, keepdims=True)
            out[b, rows] = desc / np.maximum(norms, 1e-6)
