"""Feature matching between two views of one synthetic face: DFF against SIFT.

A view pair renders one identity, expression and appearance under two yaw angles.  The
ground-truth correspondence comes from the rasteriser: a face pixel of view A lies on a
triangle at some barycentrics; the same barycentrics applied to that triangle's projected
vertices in view B give the same surface point in B (weak perspective is affine, so this
is exact), and B's z-buffer says whether the point is visible there.

* DFF: query pixels of A on a regular grid over A's face; each is matched to the pixel of
  B whose descriptor makes the smallest angle with it; the match is kept when that angle
  is below ``max_angle_deg`` (the paper: 30 degrees).
* SIFT: keypoints detected on A's face and in B, matched by L2 nearest neighbour with the
  ratio test: kept when ``d1 * ratio < d2`` (the paper: ratio 1.3).

``search`` says where in B both methods look: ``"face"`` (B's face pixels: the face region
is known, as when aligning a detected face) or ``"image"`` (all of B, background included).

Precision counts only queries whose surface point is visible in B: a kept match is correct
when it lies within ``tolerance_frac * image_size`` pixels of the true position.  Queries on
A's face whose surface point is hidden in B are counted apart (:mod:`facealign.matching_scores`):
matched anyway (a false match on an occluded point) or rejected.  ``dff_dense`` is the
paper's Fig. 9: every face pixel of A matched with the ``dense_max_angle_deg`` threshold
(the paper: 12 degrees), its precision and coverage.  Positions are (x, y) image pixels,
y down; angles are degrees.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facealign.data.appearance import region_weights, sample_appearance
from facealign.data.render_face import render_face, sample_pose
from facealign.matching_scores import (
    dense_counts,
    hidden_counts,
    nearest_angle,
    score,
    summarize,
    summarize_dense,
    summarize_hidden,
)
from facegeom import parameters
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import Raster, interpolate


@dataclass
class ViewPair:
    """Two renders of one face.

    Attributes:
        images: (2, S, S, 3) uint8 RGB, views A and B.
        rasters: the two z-buffers (triangle index, barycentrics) at S x S.
        corr: (S, S, 2) float32 position (x, y) in B of each pixel of A; NaN where A shows
            background or the surface point is hidden in (or outside) B.
        yaw_deg: (2,) the yaw of A and of B, degrees.
    """

    images: np.ndarray
    rasters: tuple[Raster, Raster]
    corr: np.ndarray
    yaw_deg: np.ndarray


def correspondence(raster_a: Raster, raster_b: Raster, triangles: np.ndarray, verts_b: np.ndarray,
                   depth_tolerance: float) -> np.ndarray:
    """(H, W, 2) position in B of every pixel of A (NaN where not visible in B).

    Args:
        raster_a, raster_b: z-buffers of the two views.
        triangles: (T, 3) mesh triangles.
        verts_b: (N, 3) the mesh projected in view B (x, y pixels, depth larger = nearer).
        depth_tolerance: how far (depth units) B's z-buffer may be nearer than the point.
    """
    pos = interpolate(raster_a, triangles, verts_b)  # (H, W, 3) x, y, depth in B
    h, w = raster_b.depth.shape
    col, row = np.rint(pos[..., 0]).astype(np.int64), np.rint(pos[..., 1]).astype(np.int64)
    inside = raster_a.mask & (col >= 0) & (col < w) & (row >= 0) & (row < h)
    front = raster_b.depth[np.clip(row, 0, h - 1), np.clip(col, 0, w - 1)]
    visible = inside & (front <= pos[..., 2] + depth_tolerance)
    return np.where(visible[..., None], pos[..., :2], np.nan).astype(np.float32)


def render_view_pair(model: MorphableModel, rng: np.random.Generator, size: int, yaw_a_deg: float,
                     yaw_b_deg: float, pitch_max_deg: float = 10.0, roll_max_deg: float = 10.0,
                     face_scale: tuple[float, float] = (0.6, 0.7),
                     regions: dict[str, np.ndarray] | None = None) -> ViewPair:
    """Render one random face (identity, expression, appearance) at two yaws, S = ``size``."""
    regions = region_weights(model) if regions is None else regions
    a_id = np.clip(rng.standard_normal(model.n_id), -3, 3) * model.id_std
    a_exp = np.clip(rng.standard_normal(model.n_exp), -3, 3) * model.exp_std
    shape = model.vertices(a_id, a_exp)
    pitch = rng.uniform(-pitch_max_deg, pitch_max_deg)
    roll = rng.uniform(-roll_max_deg, roll_max_deg)
    appearance = sample_appearance(model, regions, rng, size)
    faces = []
    for yaw in (yaw_a_deg, yaw_b_deg):
        pose = sample_pose(model, rng, size, yaw, pitch, roll, rng.uniform(*face_scale), 0.05, shape)
        faces.append(render_face(model, parameters.join(pose, a_id, a_exp), appearance, size, rng=rng))
    verts_b = faces[1].image_vertices
    tol = 0.02 * float(np.ptp(verts_b[:, 2]))
    corr = correspondence(faces[0].raster, faces[1].raster, model.triangles, verts_b, tol)
    return ViewPair(np.stack([f.image for f in faces]), (faces[0].raster, faces[1].raster), corr,
                    np.array([yaw_a_deg, yaw_b_deg], np.float64))


def grid_queries(corr: np.ndarray, stride: int) -> np.ndarray:
    """(Q, 2) int pixel positions (x, y) of A on a ``stride`` grid with a valid correspondence."""
    h, w = corr.shape[:2]
    ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
    ok = np.isfinite(corr[ys, xs, 0])
    return np.stack([xs[ok], ys[ok]], axis=1)


def face_grid_queries(mask: np.ndarray, stride: int) -> np.ndarray:
    """(Q, 2) int pixel positions (x, y) of A's face pixels (``mask`` (H, W)) on a ``stride``
    grid: those of :func:`grid_queries` plus the ones hidden in B."""
    h, w = mask.shape
    ys, xs = np.mgrid[stride // 2 : h : stride, stride // 2 : w : stride]
    ok = mask[ys, xs]
    return np.stack([xs[ok], ys[ok]], axis=1)


def dff_match(desc_a: np.ndarray, desc_b: np.ndarray, queries: np.ndarray, max_angle_deg: float,
              mask_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Nearest-angle matching of A's query descriptors among B's pixels.

    Args:
        desc_a, desc_b: (D, H, W) unit descriptors of the two views.
        queries: (Q, 2) int pixel positions (x, y) in A.
        max_angle_deg: matches at a larger angle are rejected.
        mask_b: (H, W) bool, the candidate pixels of B (None: all).
    Returns:
        matches (Q, 2) float positions (x, y) in B and keep (Q,) bool.
    """
    matches, angle = nearest_angle(desc_a, desc_b, queries, mask_b)
    return matches, angle < max_angle_deg


def sift_match(image_a: np.ndarray, image_b: np.ndarray, mask_a: np.ndarray, ratio: float,
               mask_b: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """SIFT keypoints on A's ``mask_a`` (H, W bool) matched into B's ``mask_b`` (None: all of
    B) with the ratio test.

    Returns:
        (K, 2) every keypoint position (x, y) detected in A, then (M, 2) the kept keypoints
        of A and (M, 2) their matched positions in B.
    """
    sift = cv2.SIFT_create()
    grey = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY) for im in (image_a, image_b)]
    kp_a, des_a = sift.detectAndCompute(grey[0], mask_a.astype(np.uint8) * 255)
    kp_b, des_b = sift.detectAndCompute(grey[1], None if mask_b is None else mask_b.astype(np.uint8) * 255)
    all_a = np.array([k.pt for k in kp_a]).reshape(-1, 2)
    empty = np.zeros((0, 2))
    if des_a is None or des_b is None or len(kp_b) < 2:
        return all_a, empty, empty
    pairs = cv2.BFMatcher(cv2.NORM_L2).knnMatch(des_a, des_b, k=2)
    kept = [m for m, n in (p for p in pairs if len(p) == 2) if m.distance * ratio < n.distance]
    if not kept:
        return all_a, empty, empty
    pts_a = np.array([kp_a[m.queryIdx].pt for m in kept])
    pts_b = np.array([kp_b[m.trainIdx].pt for m in kept])
    return all_a, pts_a, pts_b


def match_pair(pair: ViewPair, desc: np.ndarray | None, cfg: dict) -> dict[str, dict[str, int]]:
    """Counts for every method on one pair: ``sift``, ``dff`` (grid queries over A's face) and
    ``dff_at_sift`` (DFF queried at SIFT's keypoints of A), each with the visible-point
    counts of :func:`score` and the hidden-point counts of
    :func:`~facealign.matching_scores.hidden_counts`, and ``dff_dense`` (Fig. 9,
    :func:`~facealign.matching_scores.dense_counts`); ``desc`` (2, D, S, S), or None to skip DFF."""
    size = pair.images.shape[1]
    tol = float(cfg["tolerance_frac"]) * size
    if cfg.get("search", "image") not in ("face", "image"):
        raise ValueError(f"matching.search must be 'face' or 'image', got {cfg['search']!r}")
    mask_a = pair.rasters[0].mask
    mask_b = pair.rasters[1].mask if cfg.get("search", "image") == "face" else None
    kp_all, pts_a, pts_b = sift_match(pair.images[0], pair.images[1], mask_a, float(cfg["sift_ratio"]),
                                      mask_b)
    out = {"sift": {**score(pair.corr, pts_a, pts_b, tol), **hidden_counts(pair.corr, mask_a, kp_all, pts_a)}}
    if desc is None:
        return out
    max_angle = float(cfg["max_angle_deg"])
    for name, queries in (("dff", face_grid_queries(mask_a, int(cfg["grid_stride"]))),
                          ("dff_at_sift", np.clip(np.rint(kp_all), 0, size - 1).astype(int))):
        matches, keep = dff_match(desc[0], desc[1], queries, max_angle, mask_b)
        kept = queries[keep].astype(float)
        out[name] = {**score(pair.corr, kept, matches[keep], tol),
                     **hidden_counts(pair.corr, mask_a, queries, kept)}
    out["dff_dense"] = dense_counts(desc[0], desc[1], pair.corr, mask_a, float(cfg["dense_max_angle_deg"]),
                                    tol, int(cfg["dense_stride"]), mask_b)
    return out


def sample_yaws(rng: np.random.Generator, lo_deg: float, hi_deg: float,
                yaw_max_deg: float) -> tuple[float, float]:
    """Two yaws within +-``yaw_max_deg`` whose difference is uniform in [lo, hi] degrees."""
    delta = rng.uniform(lo_deg, min(hi_deg, 2 * yaw_max_deg))
    yaw_a = rng.uniform(-yaw_max_deg, yaw_max_deg - delta)
    yaw_b = yaw_a + delta
    return (yaw_a, yaw_b) if rng.uniform() < 0.5 else (-yaw_a, -yaw_b)


def evaluate_matching(model: MorphableModel, describe, size: int, cfg: dict,
                      ) -> tuple[dict, list[tuple[str, ViewPair, np.ndarray | None]]]:
    """Match ``cfg["n_pairs"]`` random view pairs per yaw-difference bin.

    Args:
        model: the morphable model to render.
        describe: (B, S, S, 3) uint8 -> (B, D, S, S) descriptors, or None to skip DFF.
        size: S, the render size (the DFF training size).
        cfg: the ``matching`` section of ``params.yaml``.
    Returns:
        metrics ``{method: {bin: summary}, "dff_dense": {bin: Fig. 9 figures},
        "dff_rejects_hidden_more_than_sift": {bin: bool}, "bins_deg": {bin: [lo, hi]}, ...}``
        (summaries: :func:`~facealign.matching_scores.summarize` and
        :func:`~facealign.matching_scores.summarize_hidden`; DFF keys only with ``describe``)
        and, per bin,
        ``(bin name, its first pair, that pair's descriptors)`` for figures.
    """
    rng = np.random.default_rng(int(cfg["seed"]))
    regions = region_weights(model)
    bins = {name: [float(v) for v in edges] for name, edges in cfg["bins_deg"].items()}
    per_bin: dict[str, list[dict[str, dict[str, int]]]] = {}
    examples = []
    for name, (lo, hi) in bins.items():
        per_bin[name] = []
        for i in range(int(cfg["n_pairs"])):
            yaw_a, yaw_b = sample_yaws(rng, lo, hi, float(cfg["yaw_max_deg"]))
            pair = render_view_pair(model, rng, size, yaw_a, yaw_b, float(cfg["pitch_max_deg"]),
                                    float(cfg["roll_max_deg"]), tuple(cfg["face_scale"]), regions)
            desc = describe(pair.images) if describe is not None else None
            per_bin[name].append(match_pair(pair, desc, cfg))
            if i == 0:
                examples.append((name, pair, desc))
    methods = [m for m in (per_bin[next(iter(bins))][0] if bins else []) if m != "dff_dense"]
    metrics: dict = {m: {b: {**summarize([c[m] for c in per_bin[b]]),
                             **summarize_hidden([c[m] for c in per_bin[b]])} for b in bins}
                     for m in methods}
    if "dff" in methods:
        dense_deg = float(cfg["dense_max_angle_deg"])
        metrics["dff_dense"] = {b: summarize_dense([c["dff_dense"] for c in per_bin[b]], dense_deg)
                                for b in bins}
        metrics["dff_rejects_hidden_more_than_sift"] = {
            b: metrics["dff"][b]["hidden_rejection_rate"] > metrics["sift"][b]["hidden_rejection_rate"]
            for b in bins}
    metrics["bins_deg"] = bins
    metrics["settings"] = {k: cfg.get(k) for k in ("n_pairs", "max_angle_deg", "sift_ratio",
                                                   "tolerance_frac", "grid_stride", "search",
                                                   "dense_max_angle_deg", "dense_stride")}
    metrics["settings"]["image_size"] = size
    return metrics, examples
