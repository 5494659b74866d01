"""Specs of the papers' other two protocols: AFLW 21 visible points and visible inner points."""

from __future__ import annotations

import numpy as np
import pytest

from faceeval import map_68_to_21
from faceeval.protocols import PROTOCOL_KEYS, per_image_nme, protocol_metrics


def square_face(offset: float = 0.0) -> np.ndarray:
    """(68, 2) points inside a 100 x 100 px box (sqrt(w*h) = 100): corners on points 0 and 16."""
    rng = np.random.default_rng(7)
    pts = rng.uniform(10.0, 90.0, (68, 2))
    pts[0], pts[16] = (0.0, 0.0), (100.0, 100.0)
    return pts + offset


def test_aflw21_counts_visible_points_only_and_divides_by_the_68_point_box() -> None:
    gt68 = square_face()[None]
    gt21 = map_68_to_21(gt68)
    gt21[0, 3] = np.nan  # AFLW point 4 (68-point 22) not annotated: hidden
    pred = gt68.copy()
    pred[0, 22] += (300.0, 400.0)  # a 500 px error on the hidden point: not counted
    pred[0, 30] += (6.0, 8.0)  # 10 px on the nose tip (AFLW 15), one of 20 counted points
    pred[0, 0:17:4] += 50.0  # jaw points that AFLW does not use (0, 4, 8!, 12, 16) ...
    pred[0, 8] -= 50.0  # ... except the chin centre (8): put it back
    nme = per_image_nme(pred, gt68, gt21, np.ones((1, 68), bool))["aflw21"]
    assert nme[0] == pytest.approx(10.0 / 20 / 100.0)  # 0.5 %


def test_inner_protocol_skips_the_jaw_and_hidden_points() -> None:
    gt68 = square_face()[None]
    pred = gt68.copy()
    pred[0, :17] += 40.0  # jaw contour: not an inner point
    pred[0, 36] += (0.0, 30.0)  # hidden eye corner: not counted
    pred[0, 48] += (0.0, 49.0)  # one visible inner error of 49 px among 49 visible inner points
    visible = np.ones((1, 68), bool)
    visible[0, [36, 45]] = False
    nme = per_image_nme(pred, gt68, map_68_to_21(gt68), visible)["inner"]
    assert nme[0] == pytest.approx(49.0 / 49 / 100.0)  # 1 %


def test_protocol_keys_bin_by_yaw_and_report_mean_of_bins_and_all_images() -> None:
    per_image = {
        "aflw21": np.array([0.02, 0.02, 0.04, 0.09, np.nan]),  # the last: no visible AFLW point
        "inner": np.array([0.01, 0.03, 0.05, 0.06, 0.10]),
    }
    yaw = np.array([5.0, -20.0, 45.0, 70.0, 88.0])
    keys = protocol_metrics(per_image, yaw)  # an image with no evaluable point is normal: no warning
    assert set(keys) == set(PROTOCOL_KEYS)
    assert (keys["nme21_0_30"], keys["nme21_30_60"], keys["nme21_60_90"]) == (2.0, 4.0, 9.0)
    assert keys["nme21_mean"] == 5.0 and keys["nme21_std"] == pytest.approx(3.6056)
    assert keys["n21_images"] == 4
    assert (keys["nme_inner_0_30"], keys["nme_inner_30_60"], keys["nme_inner_60_90"]) == (2.0, 5.0, 8.0)
    assert keys["nme_inner_mean"] == 5.0  # (2 + 5 + 8) / 3
    assert keys["nme_inner_all"] == 5.0  # (1 + 3 + 5 + 6 + 10) / 5: the "All Images" column
    assert keys["n_inner_images"] == 5


def test_an_empty_protocol_reports_nulls() -> None:
    per_image = {"aflw21": np.array([np.nan]), "inner": np.array([np.nan])}
    keys = protocol_metrics(per_image, np.array([10.0]))
    assert keys["nme21_mean"] is None and keys["nme21_std"] is None and keys["n21_images"] == 0
    assert keys["nme_inner_all"] is None and keys["n_inner_images"] == 0


def test_real_aflw2000_3d_21_points(shared_dir) -> None:
    """image00475 (yaw 66 degrees): AFLW's annotators left out the 8 points hidden on the far
    side; the 68-point fit mapped to 21 points lies within a few percent of the 13 others."""
    from facealign.data import readers

    path = shared_dir / "real" / "aflw2000_dev" / "image00475.mat"
    if not path.is_file():
        pytest.skip(f"{path} absent")
    record = readers.read_face_mat(path)
    missing = np.nonzero(~np.isfinite(record.pt2d).all(axis=1))[0] + 1  # 1-based AFLW numbers
    assert missing.tolist() == [1, 2, 3, 7, 8, 9, 13, 18]  # far brow, far eye, far ear, far mouth corner
    gt68 = record.landmarks68[None]
    gt21 = record.pt2d[None]
    per_image = per_image_nme(gt68, gt68, gt21, np.ones((1, 68), bool))
    assert 0.005 < per_image["aflw21"][0] < 0.03  # the two annotations differ by label noise only
    wrong = gt68.copy()
    wrong[0, 17:22] += 80.0  # the far brow (AFLW 1-3 come from 17, 19, 21): hidden, not counted
    assert per_image_nme(wrong, gt68, gt21, np.ones((1, 68), bool))["aflw21"][0] == pytest.approx(
        per_image["aflw21"][0])
    wrong[0, 22] += 80.0  # AFLW 4, annotated: counted
    assert per_image_nme(wrong, gt68, gt21, np.ones((1, 68), bool))["aflw21"][0] > per_image["aflw21"][0]
