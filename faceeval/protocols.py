"""The papers' three evaluation protocols of one set of predictions, as metrics keys.

Units: landmarks in pixels, per-image NME as **fractions**, every reported key in **percent**,
yaw in degrees.  Each protocol bins images by ``|yaw|`` into [0, 30], (30, 60], (60, 90]
(:data:`faceeval.nme.YAW_BINS`) and reports the bin means and their mean (the papers' Mean);
an image with no evaluable point is left out of that protocol (and of its count).

* ``aflw68`` (3DDFA Table 3, AFLW2000-3D; the contract keys ``nme_*`` of
  :class:`faceeval.nme.NMEReport`): all 68 points, normalised by ``sqrt(w*h)`` of the
  ground-truth 68-point box.
* ``aflw21`` (3DDFA Table 2, DFF Table I, AFLW): the 21 AFLW points, **visible points
  only** (the annotation's missing points are skipped), same normaliser
  (:func:`faceeval.nme.nme_aflw21`).  Keys ``nme21_0_30``, ``nme21_30_60``, ``nme21_60_90``,
  ``nme21_mean``, ``nme21_std`` (sample std of the bin means), ``n21_images``.
* ``inner`` (DFF Table III): the 51 inner points (no jaw contour, :data:`INNER_68`),
  **visible points only** (a per-landmark visibility of the ground truth), same
  normaliser.  Keys ``nme_inner_0_30``, ``nme_inner_30_60``, ``nme_inner_60_90``,
  ``nme_inner_mean``, ``nme_inner_all`` (mean over all images: the "All Images" column),
  ``n_inner_images``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from faceeval.nme import (
    BIN_NAMES,
    bin_means,
    mean_and_std_of_bins,
    nme_aflw21,
    nme_inner_visible,
    nme_per_image,
)

PROTOCOL_NAMES: tuple[str, ...] = ("aflw68", "aflw21", "inner")
"""The protocols, in the order the CED figure and files list them."""

PROTOCOL_LABELS: Mapping[str, str] = {
    "aflw68": "68 points",
    "aflw21": "AFLW 21 visible",
    "inner": "inner visible",
}

PROTOCOL_KEYS: tuple[str, ...] = (
    *(f"nme21_{b}" for b in BIN_NAMES), "nme21_mean", "nme21_std", "n21_images",
    *(f"nme_inner_{b}" for b in BIN_NAMES), "nme_inner_mean", "nme_inner_all", "n_inner_images",
)
"""The keys :func:`protocol_metrics` adds to every ``metrics/<model>.json``."""


def _round(x: float) -> float | None:
    return None if not math.isfinite(x) else round(float(x), 4)


def per_image_nme(pred: np.ndarray, gt68: np.ndarray, gt21: np.ndarray,
                  visible68: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image NME (fractions) of every protocol.

    Args:
        pred, gt68: (B, 68, 2) predicted and ground-truth landmarks, pixels.
        gt21: (B, 21, 2) AFLW ground truth, pixels, NaN where missing (hidden).
        visible68: (B, 68) bool ground-truth visibility of the 68 points.

    Returns:
        ``{"aflw68": (B,), "aflw21": (B,), "inner": (B,)}``; NaN where an image has no
        evaluable point in that protocol.
    """
    return {
        "aflw68": nme_per_image(pred, gt68),
        "aflw21": np.atleast_1d(nme_aflw21(pred, gt21, gt68)),
        "inner": np.atleast_1d(nme_inner_visible(pred, gt68, visible68)),
    }


def _binned(prefix: str, nme: np.ndarray, yaw_deg: np.ndarray) -> tuple[dict, np.ndarray, float]:
    """``{prefix}_<bin>`` and ``{prefix}_mean`` keys, the kept per-image NME (percent) and the
    sample std of the bin means."""
    nme = np.asarray(nme, np.float64)
    finite = np.isfinite(nme)
    kept, means, _ = bin_means(nme[finite], np.asarray(yaw_deg, np.float64)[finite])
    mean, std = mean_and_std_of_bins(means)
    out = {f"{prefix}_{b}": _round(m) for b, m in zip(BIN_NAMES, means, strict=True)}
    out[f"{prefix}_mean"] = _round(mean)
    return out, kept, std


def protocol_metrics(per_image: Mapping[str, np.ndarray], yaw_deg: np.ndarray) -> dict:
    """The AFLW 21-point and visible-inner keys (:data:`PROTOCOL_KEYS`, percent, 4 decimals,
    ``None`` where a bin is empty) from :func:`per_image_nme`'s arrays and (B,) yaw, degrees."""
    out, kept21, std21 = _binned("nme21", per_image["aflw21"], yaw_deg)
    out["nme21_std"] = _round(std21)
    out["n21_images"] = int(kept21.size)
    inner, kept, _ = _binned("nme_inner", per_image["inner"], yaw_deg)
    out.update(inner)
    out["nme_inner_all"] = _round(float(kept.mean())) if kept.size else None
    out["n_inner_images"] = int(kept.size)
    return out
