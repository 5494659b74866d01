"""Specs of the NME protocol: normaliser, variants, yaw bins, bin-mean summary, 21-point map."""

from __future__ import annotations

import math

import numpy as np
import pytest

from faceeval import (
    AFLW21_FROM_68,
    INNER_68,
    box_size,
    map_68_to_21,
    nme_aflw21,
    nme_inner_visible,
    nme_per_image,
    summarize,
    yaw_bin_index,
)


def _faces(b: int = 3, seed: int = 0) -> np.ndarray:
    """(b, 68, 2) random landmark sets inside differently sized boxes (pixels)."""
    rng = np.random.default_rng(seed)
    pts = rng.uniform(0.0, 1.0, size=(b, 68, 2))
    return pts * rng.uniform(50.0, 200.0, size=(b, 1, 2)) + rng.uniform(0, 100, size=(b, 1, 2))


def test_box_size_is_sqrt_of_landmark_box_area() -> None:
    gt = np.zeros((68, 2))
    gt[0], gt[1] = (10.0, 20.0), (110.0, 45.0)  # box 100 x 25, the rest at (10, 20)
    gt[2:] = (10.0, 20.0)
    assert box_size(gt) == pytest.approx(50.0)
    assert box_size(np.stack([gt, gt * 2])) == pytest.approx([50.0, 100.0])


def test_perfect_prediction_has_zero_nme() -> None:
    gt = _faces()
    np.testing.assert_array_equal(nme_per_image(gt.copy(), gt), np.zeros(3))


def test_shift_by_d_pixels_gives_d_over_box_size() -> None:
    gt = _faces()
    shift = np.array([3.0, 4.0])  # |d| = 5 px for every point
    nme = nme_per_image(gt + shift, gt)
    np.testing.assert_allclose(nme, 5.0 / box_size(gt), rtol=1e-12)
    assert nme_per_image(gt[0] + shift, gt[0]) == pytest.approx(5.0 / box_size(gt[0]))


def test_point_subset_keeps_full_68_normaliser() -> None:
    gt = _faces()
    pred = gt.copy()
    pred[:, 40] += (6.0, 8.0)  # one 10 px error
    nme = nme_per_image(pred, gt, points=[40, 41])
    np.testing.assert_allclose(nme, (10.0 / 2) / box_size(gt))


def test_visible_mask_skips_points() -> None:
    gt = _faces(b=2)
    pred = gt + 1.0
    pred[:, 0] += 1000.0  # a wild error on an invisible point
    visible = np.ones((2, 68), dtype=bool)
    visible[:, 0] = False
    np.testing.assert_allclose(nme_per_image(pred, gt, visible=visible), math.sqrt(2) / box_size(gt))
    assert np.isnan(nme_per_image(pred, gt, visible=np.zeros((2, 68), bool))).all()


def test_inner_visible_ignores_jaw_and_hidden_points() -> None:
    assert INNER_68 == tuple(range(17, 68))
    gt = _faces(b=1)
    pred = gt.copy()
    pred[:, :17] += 50.0  # jaw errors do not count
    pred[:, 30] += (0.0, 51.0)  # hidden nose tip does not count
    pred[:, 48] += (0.0, 51.0)  # one visible inner error of 51 px
    visible = np.ones((1, 68), dtype=bool)
    visible[0, 30] = False
    expected = 51.0 / 50 / box_size(gt)  # 50 visible inner points
    np.testing.assert_allclose(nme_inner_visible(pred, gt, visible), expected)


@pytest.mark.parametrize(
    ("yaw", "bin_"),
    [
        (0.0, 0),
        (30.0, 0),
        (-30.0, 0),
        (30.01, 1),
        (-45.0, 1),
        (60.0, 1),
        (60.5, 2),
        (90.0, 2),
        (-90.0, 2),
        (120.0, 2),
    ],
)
def test_yaw_bin_boundaries(yaw: float, bin_: int) -> None:
    assert yaw_bin_index(np.array([yaw]))[0] == bin_


def test_nme_mean_is_mean_of_bin_means_not_sample_mean() -> None:
    # bin 0: four images at 2 %, bin 1: one at 4 %, bin 2: one at 9 %
    nme = np.array([0.02, 0.02, 0.02, 0.02, 0.04, 0.09])
    yaw = np.array([0.0, 10.0, -20.0, 30.0, 45.0, -75.0])
    rep = summarize(nme, yaw)
    assert (rep.nme_0_30, rep.nme_30_60, rep.nme_60_90) == pytest.approx((2.0, 4.0, 9.0))
    assert rep.nme_mean == pytest.approx(5.0)  # (2 + 4 + 9) / 3
    assert rep.nme_sample_mean == pytest.approx(100 * nme.mean())  # 3.5, differs
    assert rep.nme_std == pytest.approx(np.std([2.0, 4.0, 9.0], ddof=1))  # sample std: 3.61
    assert (rep.n_images, rep.n_0_30, rep.n_30_60, rep.n_60_90) == (6, 4, 1, 1)


def test_empty_bin_is_null_and_left_out_of_the_bin_mean() -> None:
    rep = summarize(np.array([0.02, 0.04]), np.array([5.0, 50.0]))
    assert math.isnan(rep.nme_60_90) and rep.n_60_90 == 0
    assert rep.nme_mean == pytest.approx(3.0) and rep.nme_std == pytest.approx(math.sqrt(2.0))
    assert rep.to_dict()["nme_60_90"] is None


@pytest.mark.parametrize(
    ("bins", "mean", "std"),
    [
        ((3.78, 4.54, 7.93), 5.42, 2.21),  # 3DDFA, CVPR 2016 Table 3 (AFLW2000-3D, 68 points)
        ((5.00, 5.06, 6.74), 5.60, 0.99),  # 3DDFA, CVPR 2016 Table 2 (AFLW, 21 points)
    ],
)
def test_mean_and_std_are_the_papers_columns(bins, mean, std) -> None:
    """One image per bin at the published bin NMEs gives the published Mean and Std."""
    rep = summarize(np.array(bins) / 100.0, np.array([10.0, 45.0, 75.0]))
    assert round(rep.nme_mean, 2) == mean
    assert round(rep.nme_std, 2) == std  # the sample std (ddof=1); ddof=0 gives 1.80 for row 1


def test_std_of_fewer_than_two_bins_is_null() -> None:
    rep = summarize(np.array([0.02, 0.03]), np.array([5.0, 10.0]))
    assert rep.nme_mean == pytest.approx(2.5) and math.isnan(rep.nme_std)
    assert rep.to_dict()["nme_std"] is None


def test_non_finite_nme_is_excluded_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="1 image"):
        rep = summarize(np.array([0.02, np.nan]), np.array([5.0, 50.0]))
    assert rep.n_images == 1 and rep.n_30_60 == 0


def test_aflw21_mapping_shape() -> None:
    assert len(AFLW21_FROM_68) == 21
    assert AFLW21_FROM_68[12] == 2 and AFLW21_FROM_68[16] == 14  # ears: the jaw contour at the lobes
    faces = _faces(b=1)
    mapped = map_68_to_21(faces)
    assert np.isfinite(mapped).all()
    np.testing.assert_array_equal(mapped[0, [0, 12, 16, 20]], faces[0, [17, 2, 14, 8]])
    np.testing.assert_allclose(mapped[0, 7], faces[0, 36:42].mean(0))  # left eye centre
    np.testing.assert_allclose(mapped[0, 18], faces[0, [62, 66]].mean(0))  # mouth centre


def test_aflw21_skips_missing_gt_points() -> None:
    gt68 = _faces(b=1)
    gt21 = map_68_to_21(gt68)
    pred68 = gt68.copy()
    pred68[0, 17] += 100.0  # AFLW point 1 (left brow left corner) badly wrong ...
    gt21[0, 0] = np.nan  # ... but not annotated: skipped
    assert nme_aflw21(pred68, gt21, gt68)[0] == 0.0
    gt21[0, 0] = gt68[0, 17]
    assert nme_aflw21(pred68, gt21, gt68)[0] > 0.0


def test_aflw21_normaliser_from_68_box_or_present_21_points() -> None:
    gt68 = _faces(b=2)
    gt21 = map_68_to_21(gt68)
    pred68 = gt68 + (0.0, 2.0)
    np.testing.assert_allclose(nme_aflw21(pred68, gt21, gt68), 2.0 / box_size(gt68))
    np.testing.assert_allclose(nme_aflw21(pred68, gt21), 2.0 / box_size(gt21))


def test_aflw21_mapping_on_real_aflw2000_samples(shared_dir) -> None:
    """The annotated pt2d and pt3d_68 mapped to 21 points agree to a few percent."""
    sio = pytest.importorskip("scipy.io")
    files = sorted((shared_dir / "real" / "aflw2000_dev").glob("*.mat"))
    if not files:
        pytest.skip("no AFLW2000-3D samples")
    for path in files:
        mat = sio.loadmat(path)
        gt21 = mat["pt2d"].astype(np.float64).T  # (21, 2), -1 = missing
        gt21[(gt21 < 0).any(axis=1)] = np.nan
        pts68 = mat["pt3d_68"][:2].astype(np.float64).T  # (68, 2)
        nme = nme_aflw21(pts68, gt21, pts68)
        assert np.isfinite(nme) and nme < 0.05, (path.name, nme)
        # and no single point is far off (a left/right swap or a wrong brow point is > 20 %)
        per_point = np.linalg.norm(map_68_to_21(pts68) - gt21, axis=1) / box_size(pts68)
        assert np.nanmax(per_point) < 0.10, (path.name, np.nanargmax(per_point) + 1)
