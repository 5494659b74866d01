"""Face boxes without a given box: OpenCV's frontal and profile cascades, calibrated to the
68-landmark box the aligners were trained on (the calibration comes from generated faces,
``bench/calibrate_detector.py``; the real dev photos only check it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facealign.detect import HAAR_TO_LANDMARK_BOX, HaarFaceDetector, calibrated_box, face_boxes


def _iou(p: np.ndarray, q: np.ndarray) -> float:
    iw, ih = max(0.0, min(p[2], q[2]) - max(p[0], q[0])), max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = iw * ih
    return inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter)


def test_a_mirrored_view_gets_the_mirrored_calibration() -> None:
    rect = np.array([40.0, 30.0, 100.0, 100.0])
    a, b, c, d = HAAR_TO_LANDMARK_BOX["profile"]
    plain = calibrated_box(rect, "profile", False, 320)
    np.testing.assert_allclose(plain, [40 + 100 * a, 30 + 100 * b, 40 + 100 * c, 30 + 100 * d])
    # the same window seen in the mirrored image: the box flips with it, not just its position
    mirrored = calibrated_box(rect, "profile", True, 320)
    np.testing.assert_allclose(mirrored, [320 - plain[2], plain[1], 320 - plain[0], plain[3]])


@pytest.fixture(scope="module")
def dev_faces(shared_dir: Path) -> list:
    from facealign.data.readers import load_image
    from facealign.evaluation import load_benchmark

    bench = load_benchmark(shared_dir / "real" / "aflw2000_dev")
    return [(r.image_path.name, load_image(r.image_path), box, yaw)
            for r, box, yaw in zip(bench.records, bench.boxes, bench.yaw_deg, strict=True)]


def test_every_real_dev_face_is_found_with_a_landmark_like_box(dev_faces: list) -> None:
    """Six AFLW2000-3D photos, yaw -36 to 66 deg: the first box is the face (the 65.6 deg one
    included, where the frontal window alone sits on the ear side)."""
    detector = HaarFaceDetector()
    for name, image, truth, yaw in dev_faces:
        boxes, source = face_boxes(image, None, detector)
        assert source == "haar", name
        assert _iou(boxes[0], np.asarray(truth)) > 0.75, (name, yaw, boxes[0].round(), np.round(truth))


def test_the_profile_cascades_find_what_the_frontal_one_misses_or_misplaces(dev_faces: list) -> None:
    detector = HaarFaceDetector()
    name, image, truth, yaw = next(f for f in dev_faces if abs(f[3]) > 60)
    found, scale, width = detector.raw_detections(image)
    kinds = {kind for kind, _, _ in found}
    assert "profile" in kinds, name
    frontal = [calibrated_box(r, k, m, width) / scale for k, m, r in found if k == "frontal"]
    best = detector.detect(image)[0]
    assert all(_iou(best, np.asarray(truth)) > _iou(b, np.asarray(truth)) for b in frontal)


def test_one_face_gets_one_box_even_when_several_cascades_fire(dev_faces: list) -> None:
    detector = HaarFaceDetector()
    for name, image, _, _ in dev_faces:
        assert len(detector.detect(image)) == 1, name
