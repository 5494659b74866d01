"""What the DFF paper claims about matching, as counts: occluded points and dense coverage.

The claim (DFF paper, Sec. IV-A, Figs. 8-9): DFF refuses to match a point of view A whose
surface point is hidden in view B (its nearest-angle descriptor in B is far off, so the
angle threshold rejects it), while SIFT's ratio test matches such points to something on
the other side of the face.  A query of A is *hidden* when it lies on A's face and its
surface point has no visible position in B (self-occluded there or outside B's image).

* :func:`score` / :func:`summarize`: matches and correct ones among queries visible in B.
* :func:`hidden_counts`: of the hidden queries a method was given, how many it matched
  anyway (``hidden_matched``: false matches on occluded points) and how many it rejected
  (``hidden_rejected``: correct rejections).
* :func:`dense_counts`: Fig. 9's dense matching: every face pixel of A (on a ``stride``
  grid) matched by nearest angle, kept below the threshold (the paper: 12 degrees); how
  many were kept (coverage) and how many of the kept ones with a true position are correct
  (precision).

Positions are (x, y) image pixels, y down; angles in degrees; descriptors unit vectors.
"""

from __future__ import annotations

import numpy as np


def nearest_angle(desc_a: np.ndarray, desc_b: np.ndarray, queries: np.ndarray,
                  mask_b: np.ndarray | None = None, chunk: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """For each query pixel of A, B's pixel whose descriptor makes the smallest angle with it.

    Args:
        desc_a, desc_b: (D, H, W) unit descriptors of the two views.
        queries: (Q, 2) int pixel positions (x, y) in A.
        mask_b: (H, W) bool, the candidate pixels of B (None: all).
        chunk: queries per matrix product (bounds memory at ``chunk * H * W`` floats).
    Returns:
        positions (Q, 2) float (x, y) in B and angles (Q,) in degrees.
    """
    d, h, w = desc_b.shape
    flat_b = desc_b.reshape(d, -1)
    best = np.zeros(len(queries), np.int64)
    cos_best = np.zeros(len(queries), np.float64)
    for start in range(0, len(queries), chunk):
        q = queries[start : start + chunk]
        cos = desc_a[:, q[:, 1], q[:, 0]].T @ flat_b  # (q, H*W)
        if mask_b is not None:
            cos[:, ~mask_b.reshape(-1)] = -2.0
        idx = cos.argmax(axis=1)
        best[start : start + len(q)] = idx
        cos_best[start : start + len(q)] = cos[np.arange(len(idx)), idx]
    angle = np.degrees(np.arccos(np.clip(cos_best, -1.0, 1.0)))
    return np.stack([best % w, best // w], axis=1).astype(np.float64), angle


def score(corr: np.ndarray, pts_a: np.ndarray, pts_b: np.ndarray, tolerance_px: float) -> dict[str, int]:
    """Counts of matches (``matches``) and correct ones (``correct``) among pairs whose A point
    has a ground-truth position in B; A points are looked up at their nearest pixel."""
    h, w = corr.shape[:2]
    if len(pts_a) == 0:
        return {"matches": 0, "correct": 0}
    col = np.clip(np.rint(pts_a[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.rint(pts_a[:, 1]).astype(int), 0, h - 1)
    truth = corr[row, col]
    ok = np.isfinite(truth[:, 0])
    err = np.linalg.norm(pts_b[ok] - truth[ok], axis=1)
    return {"matches": int(ok.sum()), "correct": int((err <= tolerance_px).sum())}


def summarize(counts: list[dict[str, int]]) -> dict[str, float]:
    """Per-bin summary: ``precision`` (correct / matches over all pairs, NaN-free: 0 when no
    match), ``matches`` and ``correct`` (means per pair)."""
    matches = sum(c["matches"] for c in counts)
    correct = sum(c["correct"] for c in counts)
    n = max(len(counts), 1)
    return {"precision": round(correct / matches, 4) if matches else 0.0,
            "matches": round(matches / n, 2), "correct": round(correct / n, 2)}


def hidden_queries(corr: np.ndarray, mask_a: np.ndarray, points: np.ndarray) -> np.ndarray:
    """(P,) bool: which points (P, 2) (x, y) of A, looked up at their nearest pixel, lie on
    A's face (``mask_a`` (H, W)) with no visible position in B (``corr`` (H, W, 2) NaN)."""
    h, w = mask_a.shape
    if len(points) == 0:
        return np.zeros(0, bool)
    col = np.clip(np.rint(points[:, 0]).astype(int), 0, w - 1)
    row = np.clip(np.rint(points[:, 1]).astype(int), 0, h - 1)
    return mask_a[row, col] & ~np.isfinite(corr[row, col, 0])


def hidden_counts(corr: np.ndarray, mask_a: np.ndarray, queried: np.ndarray,
                  kept: np.ndarray) -> dict[str, int]:
    """Counts on the hidden queries of one view pair.

    Args:
        corr: (H, W, 2) position in B of each pixel of A (NaN where none is visible).
        mask_a: (H, W) bool, A's face pixels.
        queried: (P, 2) every point (x, y) of A the method was asked to match.
        kept: (M, 2) the points of A it matched (one row per match, a subset of ``queried``).
    Returns:
        ``hidden`` (hidden queries), ``hidden_matched`` (matched anyway: false matches on
        occluded points), ``hidden_rejected`` (correctly refused).
    """
    n_hidden = int(hidden_queries(corr, mask_a, np.asarray(queried, np.float64).reshape(-1, 2)).sum())
    matched = int(hidden_queries(corr, mask_a, np.asarray(kept, np.float64).reshape(-1, 2)).sum())
    return {"hidden": n_hidden, "hidden_matched": matched, "hidden_rejected": n_hidden - matched}


def dense_counts(desc_a: np.ndarray, desc_b: np.ndarray, corr: np.ndarray, mask_a: np.ndarray,
                 max_angle_deg: float, tolerance_px: float, stride: int = 1,
                 mask_b: np.ndarray | None = None) -> dict[str, int]:
    """Fig. 9's dense matching of one pair: every ``stride``-th face pixel of A (``mask_a``).

    Returns:
        ``pixels`` (A's face pixels queried), ``kept`` (matched below ``max_angle_deg``),
        ``kept_visible`` / ``correct`` (kept ones with a true position in B / within
        ``tolerance_px`` of it), ``visible`` (queried pixels with a true position) and
        ``kept_hidden`` (kept although hidden in B).
    """
    h, w = mask_a.shape
    ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
    on_face = mask_a[ys, xs]
    queries = np.stack([xs[on_face], ys[on_face]], axis=1)
    if len(queries) == 0:
        return dict.fromkeys(("pixels", "kept", "visible", "kept_visible", "correct", "kept_hidden"), 0)
    matches, angle = nearest_angle(desc_a, desc_b, queries, mask_b)
    kept = angle < max_angle_deg
    truth = corr[queries[:, 1], queries[:, 0]]
    visible = np.isfinite(truth[:, 0])
    err = np.linalg.norm(matches - np.where(visible[:, None], truth, 0.0), axis=1)
    return {"pixels": len(queries), "kept": int(kept.sum()), "visible": int(visible.sum()),
            "kept_visible": int((kept & visible).sum()),
            "correct": int((kept & visible & (err <= tolerance_px)).sum()),
            "kept_hidden": int((kept & ~visible).sum())}


def _ratio(num: int, den: int) -> float:
    return round(num / den, 4) if den else 0.0


def summarize_hidden(counts: list[dict[str, int]]) -> dict[str, float]:
    """Per-bin occlusion summary over pairs: ``hidden``, ``hidden_matched``,
    ``hidden_rejected`` (means per pair) and ``hidden_rejection_rate`` (rejected / hidden,
    pooled; 0 when there was no hidden query)."""
    total = {k: sum(c[k] for c in counts) for k in ("hidden", "hidden_matched", "hidden_rejected")}
    n = max(len(counts), 1)
    out = {k: round(v / n, 2) for k, v in total.items()}
    out["hidden_rejection_rate"] = _ratio(total["hidden_rejected"], total["hidden"])
    return out


def summarize_dense(counts: list[dict[str, int]], max_angle_deg: float) -> dict[str, float]:
    """Per-bin Fig. 9 figures, pooled over pairs: ``precision`` (correct / kept with a true
    position), ``coverage`` (kept / all face pixels queried), ``coverage_visible`` (kept with
    a true position / pixels with one), ``hidden_kept_rate`` (kept hidden / hidden pixels)
    and the threshold, degrees."""
    t = {k: sum(c[k] for c in counts) for k in counts[0]} if counts else {}
    if not t:
        return {"threshold_deg": max_angle_deg, "precision": 0.0, "coverage": 0.0,
                "coverage_visible": 0.0, "hidden_kept_rate": 0.0}
    return {"threshold_deg": max_angle_deg,
            "precision": _ratio(t["correct"], t["kept_visible"]),
            "coverage": _ratio(t["kept"], t["pixels"]),
            "coverage_visible": _ratio(t["kept_visible"], t["visible"]),
            "hidden_kept_rate": _ratio(t["kept_hidden"], t["pixels"] - t["visible"])}
