"""Normalised mean error (NME) and the AFLW2000-3D yaw-binned protocol.

Units: landmark coordinates in pixels (any consistent convention); per-image NME values are
**fractions** (0.035 = 3.5 %); :class:`NMEReport` holds **percent**; yaw in **degrees**.

Protocol (3DDFA / AFLW2000-3D): the NME of one image is the mean point-to-point L2 error
divided by ``sqrt(w * h)`` of the bounding box of its ground-truth 68 landmarks. Images are
binned by ``|yaw|`` into [0, 30], (30, 60], (60, 90]; the headline ``nme_mean`` is the mean of
the three bin means, ``nme_std`` their **sample** standard deviation (ddof=1): the papers' Std
column (3DDFA, CVPR 2016, Table 3: bins 3.78 / 4.54 / 7.93 give Std 2.21; ddof=0 would give
1.80, which is what the 3DDFA PyTorch benchmark script prints).  The two further protocols of
the papers (AFLW 21 points, visible inner points) are :mod:`faceeval.protocols`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

YAW_BINS: tuple[tuple[float, float], ...] = ((0.0, 30.0), (30.0, 60.0), (60.0, 90.0))
"""|yaw| bins in degrees: the first is closed [0, 30], the others (lo, hi]; |yaw| > 90 -> last."""

BIN_NAMES: tuple[str, ...] = ("0_30", "30_60", "60_90")

INNER_68: tuple[int, ...] = tuple(range(17, 68))
"""0-based iBUG indices without the jaw contour (0..16): brows, nose, eyes, mouth."""

# fmt: off
AFLW21_FROM_68: tuple[int | tuple[int, ...], ...] = (
    17, 19, 21,  # 1-3   left brow: left corner, centre, right corner   (image-left brow)
    22, 24, 26,  # 4-6   right brow: left corner, centre, right corner
    36, (36, 37, 38, 39, 40, 41), 39,  # 7-9   left eye: left corner, centre, right corner
    42, (42, 43, 44, 45, 46, 47), 45,  # 10-12 right eye: left corner, centre, right corner
    2,  # 13 left ear (lobe): jaw-contour point 2, the nearest 68 point on real labels
    31, 30, 35,  # 14-16 nose: left nostril wing, tip, right nostril wing
    14,  # 17 right ear (lobe): jaw-contour point 14
    48, (62, 66), 54,  # 18-20 mouth: left corner, centre (mean of inner-lip centres), right
    8,  # 21 chin centre
)
# fmt: on
"""AFLW 21-point order -> 0-based 68-point index, a tuple of indices (their mean), or -1.

"Left" is image-left, as in the AFLW files (AFLW point 1 lies on 68-point index 17). Eye
centres are the centroid of the six eye-contour points, the mouth centre the mean of the
inner-lip centres 62 and 66. Derived from the ``pt2d`` / ``pt3d_68`` pairs of real
AFLW2000-3D samples (nearest 68 points; see tests/faceeval/test_nme.py for the check), and
the same as the 3DDFA benchmark's ``ind_68to21`` (cleardusk/3DDFA ``benchmark_aflw.py``)
except the mouth centre, which that script takes as the mean of all eight inner-lip points
60..67 (on the six ``aflw2000_dev`` faces 62/66 lie 4.3 px from the annotation on average,
60..67 5.5 px).

The ears (13, 17) have no landmark of their own in the 68-point set; the 3D jaw contour of
AFLW2000-3D's ``pt3d_68`` passes the ear lobe at points 2 and 14 (0.9 - 7.9 px, 2 - 4 % of
the box, from the annotated lobes of the dev faces: as close as the brow and nose points), so
they stand in for it, as in 3DDFA's benchmark.  A mapping entry of -1 (none now) would be a
point counted as missing: never evaluated.
"""


def _as_batch(points: np.ndarray) -> np.ndarray:
    """(N, 2) or (B, N, 2) -> float (B, N, 2)."""
    arr = np.asarray(points, dtype=np.float64)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[-1] != 2:
        raise ValueError(f"expected landmarks of shape (N, 2) or (B, N, 2), got {arr.shape}")
    return arr


def _box_size(points: np.ndarray) -> np.ndarray:
    """(B, N, 2) -> (B,) sqrt(w*h) of the bounding box of the finite points (NaN if none)."""
    finite = np.isfinite(points).all(axis=-1, keepdims=True)
    lo = np.where(finite, points, np.inf).min(axis=1)
    hi = np.where(finite, points, -np.inf).max(axis=1)
    with np.errstate(invalid="ignore"):
        wh = hi - lo
        size = np.sqrt(wh[:, 0] * wh[:, 1])
    return np.where(finite.any(axis=(1, 2)), size, np.nan)


def box_size(gt: np.ndarray) -> np.ndarray:
    """``sqrt(w * h)`` in pixels of the ground-truth landmark bounding box.

    ``gt`` (B, 68, 2) -> (B,), or (68, 2) -> a 0-d array. Non-finite points are ignored.
    """
    size = _box_size(_as_batch(gt))
    return size[0] if np.ndim(gt) == 2 else size


def _masked_mean_error(pred: np.ndarray, gt: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B, N, 2) x2, (B, N) bool -> (B,) mean L2 error in pixels over valid points (NaN if none)."""
    err = np.linalg.norm(np.where(valid[..., None], pred - gt, 0.0), axis=-1)
    count = valid.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, err.sum(axis=1) / count, np.nan)


def nme_per_image(
    pred: np.ndarray,
    gt: np.ndarray,
    points: Sequence[int] | None = None,
    visible: np.ndarray | None = None,
) -> np.ndarray:
    """Per-image NME as a **fraction** (not percent).

    Args:
        pred, gt: (B, 68, 2) or (68, 2) landmarks in pixels.
        points: optional index subset of the 68 points that enter the error.
        visible: optional (B, 68) (or (68,)) bool mask; masked points are skipped per image.

    Returns:
        (B,) (or 0-d for 2-D input): mean L2 error over the kept points divided by
        ``box_size`` of the **full** 68-point ground truth. NaN where no point is kept.
    """
    p, g = _as_batch(pred), _as_batch(gt)
    if p.shape != g.shape:
        raise ValueError(f"pred {p.shape} and gt {g.shape} differ")
    valid = np.ones(g.shape[:2], dtype=bool)
    if visible is not None:
        valid = np.broadcast_to(np.asarray(visible, dtype=bool).reshape(-1, g.shape[1]), valid.shape)
    if points is not None:
        idx = np.asarray(points, dtype=np.intp)
        p, g_sub, valid = p[:, idx], g[:, idx], valid[:, idx]
    else:
        g_sub = g
    nme = _masked_mean_error(p, g_sub, valid) / _box_size(g)
    return nme[0] if np.ndim(gt) == 2 else nme


def nme_inner_visible(pred: np.ndarray, gt: np.ndarray, visible: np.ndarray) -> np.ndarray:
    """NME (fraction) over the visible inner points (:data:`INNER_68`, no jaw contour).

    Shapes as :func:`nme_per_image`; the normaliser is still the full 68-point gt box.
    """
    return nme_per_image(pred, gt, points=INNER_68, visible=visible)


def map_68_to_21(pts68: np.ndarray) -> np.ndarray:
    """(B, 68, 2) or (68, 2) -> (B, 21, 2) / (21, 2) in AFLW order; unmapped points are NaN."""
    p = _as_batch(pts68)
    out = np.full((p.shape[0], len(AFLW21_FROM_68), 2), np.nan)
    for k, src in enumerate(AFLW21_FROM_68):
        if src == -1:
            continue
        out[:, k] = p[:, list(src)].mean(axis=1) if isinstance(src, tuple) else p[:, src]
    return out[0] if np.ndim(pts68) == 2 else out


def nme_aflw21(pred68: np.ndarray, gt21: np.ndarray, gt68: np.ndarray | None = None) -> np.ndarray:
    """NME (fraction) on AFLW's 21 points of a 68-point prediction: the AFLW protocol of both
    papers (3DDFA CVPR 2016 Table 2, DFF Table I).

    Visible points only: a ground-truth point that is NaN (AFLW's -1: not annotated because
    hidden) is skipped.  The error is the mean L2 distance over the kept points divided by
    the face-box size ``sqrt(w * h)``; the papers call it the face bounding box, and 3DDFA's
    benchmark (``benchmark_aflw.py``) takes it from the 68-point ground-truth landmarks, which
    is what ``gt68`` gives.  The prediction is mapped with :func:`map_68_to_21`.

    Args:
        pred68: (B, 68, 2) or (68, 2) predicted landmarks, pixels.
        gt21: (B, 21, 2) or (21, 2) AFLW annotation, pixels; missing points are NaN (the
            files store -1; readers convert).
        gt68: optional (B, 68, 2) ground truth; if given the normaliser is ``sqrt(w*h)`` of its
            box (the papers' protocol), otherwise of the box of the present 21 gt points.

    Returns:
        (B,) (or 0-d), NaN for an image with no evaluable point.
    """
    p21 = _as_batch(map_68_to_21(pred68))
    g21 = _as_batch(gt21)
    if p21.shape != g21.shape:
        raise ValueError(f"pred21 {p21.shape} and gt21 {g21.shape} differ")
    valid = np.isfinite(g21).all(axis=-1) & np.isfinite(p21).all(axis=-1)
    norm = _box_size(g21) if gt68 is None else _box_size(_as_batch(gt68))
    nme = _masked_mean_error(p21, g21, valid) / norm
    return nme[0] if np.ndim(gt21) == 2 else nme


def yaw_bin_index(yaw_deg: np.ndarray) -> np.ndarray:
    """|yaw| in degrees -> (B,) int bin in {0, 1, 2} (30 -> 0, 30.01 -> 1, >90 -> 2)."""
    yaw = np.abs(np.asarray(yaw_deg, dtype=np.float64))
    if not np.isfinite(yaw).all():
        raise ValueError("yaw must be finite")
    edges = [hi for _, hi in YAW_BINS[:-1]]
    return np.searchsorted(edges, yaw, side="left").astype(np.int64)


def _round(x: float, digits: int = 4) -> float | None:
    return None if not math.isfinite(x) else round(float(x), digits)


@dataclass(frozen=True)
class NMEReport:
    """The metrics contract of every model's evaluation stage; NME fields in **percent**.

    An empty bin has NaN mean (``null`` in JSON) and is left out of ``nme_mean``/``nme_std``;
    ``nme_std`` is the sample std (ddof=1) of the bin means, NaN with fewer than two bins.
    """

    nme_0_30: float
    nme_30_60: float
    nme_60_90: float
    nme_mean: float
    nme_std: float
    nme_sample_mean: float
    n_images: int
    n_0_30: int
    n_30_60: int
    n_60_90: int

    def to_dict(self) -> dict[str, float | int | None]:
        """Exactly the contract keys; floats rounded to 4 decimals, NaN -> None."""
        out: dict[str, float | int | None] = {}
        for key, value in vars(self).items():
            out[key] = int(value) if key.startswith("n_") else _round(value)
        return out


def bin_means(nme: np.ndarray, yaw_deg: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Per-image NME (fractions, (B,)) and |yaw| (degrees, (B,)) -> the |yaw| bins.

    Images with non-finite NME (no evaluable point) are dropped, with a warning.

    Returns:
        the kept per-image NME in **percent** (K,), the three bin means in percent (NaN for
        an empty bin) and the three bin counts.
    """
    nme = np.asarray(nme, dtype=np.float64).ravel()
    yaw = np.asarray(yaw_deg, dtype=np.float64).ravel()
    if nme.shape != yaw.shape:
        raise ValueError(f"nme {nme.shape} and yaw {yaw.shape} differ")
    keep = np.isfinite(nme)
    if not keep.all():
        warnings.warn(f"{(~keep).sum()} image(s) with non-finite NME excluded", stacklevel=3)
    nme, bins = nme[keep] * 100.0, yaw_bin_index(yaw[keep])
    counts = [int((bins == b).sum()) for b in range(len(YAW_BINS))]
    means = np.array([nme[bins == b].mean() if c else np.nan for b, c in enumerate(counts)])
    return nme, means, counts


def mean_and_std_of_bins(means: np.ndarray) -> tuple[float, float]:
    """The papers' Mean and Std columns: mean and **sample** std (ddof=1) of the non-empty bin
    means (percent); NaN mean with no bin, NaN std with fewer than two.

    3DDFA's AFLW2000-3D row 3.78 / 4.54 / 7.93 gives 5.42 and 2.21.
    """
    present = np.asarray(means, dtype=np.float64)
    present = present[np.isfinite(present)]
    mean = float(present.mean()) if present.size else math.nan
    std = float(present.std(ddof=1)) if present.size > 1 else math.nan
    return mean, std


def summarize(nme: np.ndarray, yaw_deg: np.ndarray) -> NMEReport:
    """Bin per-image NME (fractions, (B,)) by |yaw| (degrees, (B,)) into an :class:`NMEReport`.

    Images with non-finite NME (no evaluable point) are excluded from every figure and count.
    """
    kept, means, counts = bin_means(nme, yaw_deg)
    mean, std = mean_and_std_of_bins(means)
    return NMEReport(
        nme_0_30=float(means[0]),
        nme_30_60=float(means[1]),
        nme_60_90=float(means[2]),
        nme_mean=mean,
        nme_std=std,
        nme_sample_mean=float(kept.mean()) if kept.size else math.nan,
        n_images=int(kept.size),
        n_0_30=counts[0],
        n_30_60=counts[1],
        n_60_90=counts[2],
    )
