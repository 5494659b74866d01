"""DFF vs SIFT matching evaluation: ground-truth correspondence from the rasteriser, nearest-
angle matching with a threshold, SIFT with the ratio test, precision per yaw-gap bin."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from commands.cli import main
from facealign.matching import (
    correspondence,
    dff_match,
    evaluate_matching,
    match_pair,
    render_view_pair,
    sample_yaws,
    score,
    sift_match,
    summarize,
)
from facealign.matching_plot import save_correspondence_figure
from facealign.matching_scores import dense_counts, hidden_counts, summarize_dense, summarize_hidden
from facealign.models.dff_extractor import save_dff_extractor
from facealign.models.dff_unet import DFFUNet
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import interpolate, rasterize

CFG = {"n_pairs": 1, "bins_deg": {"small": [0, 30], "large": [60, 90]}, "yaw_max_deg": 90,
       "pitch_max_deg": 10, "roll_max_deg": 10, "face_scale": [0.6, 0.7], "max_angle_deg": 30,
       "sift_ratio": 1.3, "tolerance_frac": 0.05, "grid_stride": 4, "search": "face",
       "dense_max_angle_deg": 12, "dense_stride": 2, "seed": 0}


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


def square(z: float, lo: float, hi: float) -> tuple[np.ndarray, np.ndarray]:
    """A flat square [lo, hi]^2 at depth z: 4 vertices, 2 triangles."""
    v = np.array([[lo, lo, z], [hi, lo, z], [lo, hi, z], [hi, hi, z]], np.float32)
    return v, np.array([[0, 1, 2], [1, 3, 2]], np.int32)


def test_correspondence_follows_the_surface_and_stops_where_it_is_hidden():
    back, tris = square(0.0, 2, 28)
    front, _ = square(5.0, 100, 110)  # off-image in A
    verts_a = np.concatenate([back, front])
    tris2 = np.concatenate([tris, tris + 4])
    verts_b = verts_a + np.array([3.0, 1.0, 0.0], np.float32)  # B: everything moved (+3, +1)
    verts_b[4:] = square(5.0, 2, 10)[0]  # ... and a front square covering B's corner
    ra, rb = rasterize(verts_a, tris2, 32, 32), rasterize(verts_b, tris2, 32, 32)
    corr = correspondence(ra, rb, tris2, verts_b, depth_tolerance=0.1)
    np.testing.assert_allclose(corr[15, 20], [23.0, 16.0], atol=1e-4)  # (x=20, y=15) + (3, 1)
    assert np.isnan(corr[3, 3]).all()  # lands at (6, 4) in B: behind the front square
    assert np.isnan(corr[0, 0]).all()  # background in A


def unit_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    d = rng.normal(size=shape).astype(np.float32)
    return d / np.linalg.norm(d, axis=0)


def test_nearest_angle_matching_finds_shifted_descriptors_and_rejects_wide_angles():
    rng = np.random.default_rng(0)
    desc_a = unit_noise(rng, (32, 12, 12))
    desc_b = np.roll(desc_a, shift=(2, 5), axis=(1, 2))  # B pixel (x+5, y+2) = A pixel (x, y)
    queries = np.array([[3, 4], [10, 10], [1, 11]])
    matches, keep = dff_match(desc_a, desc_b, queries, max_angle_deg=30)
    assert keep.all()
    np.testing.assert_array_equal(matches, (queries + [5, 2]) % 12)
    _, keep = dff_match(desc_a, unit_noise(rng, (32, 12, 12)), queries, max_angle_deg=30)
    assert not keep.any()  # unrelated descriptors are ~90 degrees apart in 32-d
    allowed = np.zeros((12, 12), bool)
    allowed[:, :6] = True  # the true matches of the first two queries lie at x = 8 and 3
    matches, _ = dff_match(desc_a, desc_b, queries, max_angle_deg=30, mask_b=allowed)
    assert allowed[matches[:, 1].astype(int), matches[:, 0].astype(int)].all()
    assert matches[1].tolist() == [3, 0]


def test_sift_ratio_test_matches_a_translated_texture_correctly():
    rng = np.random.default_rng(1)
    texture = (np.kron(rng.uniform(0, 255, (24, 24)), np.ones((4, 4)))).astype(np.uint8)
    image_a = np.repeat(texture[..., None], 3, axis=2)
    image_b = np.roll(image_a, shift=(3, 7), axis=(0, 1))
    corr = np.stack(np.meshgrid(np.arange(96) + 7.0, np.arange(96) + 3.0), axis=-1)
    mask = np.zeros((96, 96), bool)
    mask[10:80, 10:80] = True
    all_a, pts_a, pts_b = sift_match(image_a, image_b, mask, ratio=1.3)
    assert len(all_a) >= len(pts_a) > 10
    counts = score(corr, pts_a, pts_b, tolerance_px=2.0)
    assert counts["correct"] / counts["matches"] > 0.9


def test_score_counts_only_points_with_a_true_position_and_summaries_pool_pairs():
    corr = np.full((10, 10, 2), np.nan)
    corr[5, 5] = [2.0, 2.0]
    corr[6, 6] = [8.0, 8.0]
    pts_a = np.array([[5, 5], [6, 6], [0, 0]], float)  # the last has no true position
    pts_b = np.array([[2.5, 2.0], [1.0, 1.0], [0, 0]], float)
    assert score(corr, pts_a, pts_b, tolerance_px=1.0) == {"matches": 2, "correct": 1}
    assert summarize([{"matches": 2, "correct": 1}, {"matches": 6, "correct": 5}]) == {
        "precision": 0.75, "matches": 4.0, "correct": 3.0}
    assert summarize([{"matches": 0, "correct": 0}])["precision"] == 0.0


def test_yaw_pairs_fall_in_their_bin_and_in_range():
    rng = np.random.default_rng(2)
    for _ in range(200):
        a, b = sample_yaws(rng, 60, 90, yaw_max_deg=90)
        assert 60 <= abs(a - b) <= 90 and max(abs(a), abs(b)) <= 90 + 1e-9


def oracle_describe(pair, model: MorphableModel) -> np.ndarray:
    """Perfect descriptors: random Fourier features of the mean-face surface point under
    every pixel (random unit vectors on background), (2, 32, S, S)."""
    rng = np.random.default_rng(3)
    freq = rng.normal(0, 1.0 / (0.04 * np.ptp(model.mean)), (16, 3))
    out = []
    for raster in pair.rasters:
        p = interpolate(raster, model.triangles, model.mean) @ freq.T
        d = np.concatenate([np.cos(p), np.sin(p)], axis=-1) / 4.0
        noise = rng.normal(size=d.shape)
        d = np.where(raster.mask[..., None], d, noise / np.linalg.norm(noise, axis=-1, keepdims=True))
        out.append(d.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def test_perfect_descriptors_score_near_perfect_precision_on_rendered_pairs(model):
    pair = render_view_pair(model, np.random.default_rng(4), 96, -20.0, 30.0)
    assert pair.images.shape == (2, 96, 96, 3)
    assert np.isfinite(pair.corr[..., 0]).sum() > 500
    counts = match_pair(pair, oracle_describe(pair, model), CFG)
    assert counts["dff"]["matches"] > 30
    assert counts["dff"]["correct"] >= 0.9 * counts["dff"]["matches"]


def test_evaluation_reports_every_method_per_bin_and_draws_the_pairs(model, tmp_path):
    def describe(images):
        rng = np.random.default_rng(5)
        d = rng.normal(size=(len(images), 8, *images.shape[1:3])).astype(np.float32)
        return d / np.linalg.norm(d, axis=1, keepdims=True)

    metrics, examples = evaluate_matching(model, describe, 64, CFG)
    assert metrics["bins_deg"] == {"small": [0.0, 30.0], "large": [60.0, 90.0]}
    for method in ("dff", "dff_at_sift", "sift"):
        assert set(metrics[method]) == {"small", "large"}
        assert all(0 <= v["precision"] <= 1 for v in metrics[method].values())
        assert all(0 <= v["hidden_rejection_rate"] <= 1 for v in metrics[method].values())
        large = metrics[method]["large"]
        assert large["hidden"] == large["hidden_matched"] + large["hidden_rejected"] > 0
    assert set(metrics["dff_dense"]["large"]) == {"threshold_deg", "precision", "coverage",
                                                  "coverage_visible", "hidden_kept_rate"}
    assert set(metrics["dff_rejects_hidden_more_than_sift"]) == {"small", "large"}
    assert [name for name, _, _ in examples] == ["small", "large"]
    out = save_correspondence_figure(examples, model, tmp_path / "pair.png", 30.0)
    assert out.stat().st_size > 1000


def test_the_command_writes_metrics_and_figure(tiny_model_path, tmp_path):
    save_dff_extractor(DFFUNet(dim=8, widths=(4, 8)), tmp_path / "dff", image_size=64)
    code = main(["evaluate-matching", "--model", str(tmp_path / "dff"),
                 "--output", str(tmp_path / "m" / "matching.json"),
                 "--set", f"paths.face_model={tiny_model_path}", "--set", "matching.n_pairs=1"])
    assert code == 0
    metrics = json.loads((tmp_path / "m" / "matching.json").read_text())
    assert {"dff", "sift", "dff_dense", "dff_rejects_hidden_more_than_sift", "bins_deg"} <= set(metrics)
    assert set(metrics["dff"]) == {"small", "medium", "large"}
    assert (tmp_path / "m" / "matching_pair.png").is_file()


def test_hidden_counts_split_occluded_queries_into_matched_and_rejected():
    corr = np.full((10, 10, 2), np.nan)
    corr[2:8, 2:5] = 1.0  # visible in B: columns 2-4 of A's face
    mask_a = np.zeros((10, 10), bool)
    mask_a[2:8, 2:8] = True  # A's face: columns 5-7 hidden in B
    queried = np.array([[3, 3], [6, 3], [6, 4], [7, 7], [0, 0]], float)  # visible, 3 hidden, background
    kept = queried[[0, 1]]  # matched the visible one and one hidden one
    counts = hidden_counts(corr, mask_a, queried, kept)
    assert counts == {"hidden": 3, "hidden_matched": 1, "hidden_rejected": 2}
    assert summarize_hidden([{"hidden": 3, "hidden_matched": 1, "hidden_rejected": 2},
                             {"hidden": 1, "hidden_matched": 0, "hidden_rejected": 1}]) == {
        "hidden": 2.0, "hidden_matched": 0.5, "hidden_rejected": 1.5, "hidden_rejection_rate": 0.75}


def test_dense_matching_keeps_small_angles_and_scores_precision_and_coverage():
    rng = np.random.default_rng(6)
    desc_a = unit_noise(rng, (32, 8, 8))
    desc_b = desc_a.copy()  # B = A pixel for pixel ...
    desc_b[:, :, 4:] = unit_noise(rng, (32, 8, 4))  # ... except its right half, unrelated
    corr = np.stack(np.meshgrid(np.arange(8.0), np.arange(8.0)), axis=-1)  # identity positions
    corr[:, 6:] = np.nan  # columns 6-7 of A are hidden in B
    mask_a = np.ones((8, 8), bool)
    counts = dense_counts(desc_a, desc_b, corr, mask_a, max_angle_deg=12, tolerance_px=0.5)
    # kept: the 32 pixels of the left half (angle 0); the right half is ~90 degrees off
    assert counts == {"pixels": 64, "kept": 32, "visible": 48, "kept_visible": 32, "correct": 32,
                      "kept_hidden": 0}
    assert summarize_dense([counts], 12.0) == {"threshold_deg": 12.0, "precision": 1.0, "coverage": 0.5,
                                               "coverage_visible": 0.6667, "hidden_kept_rate": 0.0}


def test_on_a_rendered_pair_perfect_descriptors_reject_the_points_hidden_in_view_b(model):
    """A 0 -> 80 degree turn hides the far cheek of view A in view B (the rasteriser knows which
    pixels): descriptors of the true surface point find nothing close there and reject them."""
    pair = render_view_pair(model, np.random.default_rng(8), 96, 0.0, 80.0)
    mask_a = pair.rasters[0].mask
    hidden = mask_a & ~np.isfinite(pair.corr[..., 0])
    assert hidden.sum() > 200  # the known hidden set: a good part of the face
    desc = oracle_describe(pair, model)
    counts = match_pair(pair, desc, {**CFG, "max_angle_deg": 12})
    grid = hidden[2::4, 2::4].sum()  # the DFF grid queries (stride 4) that are hidden
    assert counts["dff"]["hidden"] == grid
    assert counts["dff"]["hidden_matched"] + counts["dff"]["hidden_rejected"] == grid
    assert counts["dff"]["hidden_rejected"] >= 0.7 * grid
    assert counts["sift"]["hidden"] >= counts["sift"]["hidden_matched"] >= 0
    dense = counts["dff_dense"]
    assert dense["pixels"] == mask_a[1::2, 1::2].sum()
    assert dense["visible"] + hidden[1::2, 1::2].sum() == dense["pixels"]
    assert dense["correct"] >= 0.9 * dense["kept_visible"] > 0
