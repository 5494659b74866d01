"""Square face crops and the frame mapping they share with facegeom.parameters.to_crop."""

from __future__ import annotations

import numpy as np

from facealign.sdm.crops import boxes_to_crop, crop_boxes, crop_faces, crop_image


def test_crop_boxes_are_squares_around_the_face_box():
    squares = crop_boxes(np.array([[10.0, 20.0, 50.0, 100.0]]), 1.5)
    np.testing.assert_allclose(squares, [[-30.0, 0.0, 90.0, 120.0]])


def _dot_image(h: int, w: int, x: int, y: int) -> np.ndarray:
    image = np.zeros((h, w, 3), np.uint8)
    image[y, x] = 255
    return image


def _peak(crop: np.ndarray) -> np.ndarray:
    grey = crop[..., 0].astype(np.float64)
    yy, xx = np.mgrid[0 : grey.shape[0], 0 : grey.shape[1]]
    return np.array([(grey * xx).sum(), (grey * yy).sum()]) / grey.sum()


def test_a_pixel_lands_where_to_crop_says():
    box = np.array([20.0, 10.0, 60.0, 50.0])  # side 40 -> 80 px: scale 2
    crop = crop_image(_dot_image(80, 90, 30, 25), box, 80)
    np.testing.assert_allclose(_peak(crop), [(30 - 20) * 2, (25 - 10) * 2], atol=0.3)


def test_strong_downscaling_keeps_the_mapping():
    box = np.array([0.0, 0.0, 400.0, 400.0])  # 400 -> 40 px: area-downsampled first
    image = np.zeros((400, 400, 3), np.uint8)
    image[195:205, 295:305] = 255  # a 10 px square centred on (299.5, 199.5)
    np.testing.assert_allclose(_peak(crop_image(image, box, 40)), [29.95, 19.95], atol=0.3)


def test_crop_faces_returns_crops_and_boxes_that_map_back():
    images = [_dot_image(60, 70, 35, 30), _dot_image(100, 100, 50, 50)]
    boxes = np.array([[25.0, 20.0, 45.0, 40.0], [30.0, 40.0, 70.0, 60.0]])
    crops, squares = crop_faces(images, boxes, 32, 1.6)
    assert crops.shape == (2, 32, 32, 3) and crops.dtype == np.uint8
    inside = boxes_to_crop(boxes, squares, 32)
    np.testing.assert_allclose((inside[:, :2] + inside[:, 2:]) / 2, 16.0, atol=1e-9)
    np.testing.assert_allclose((inside[:, 2:] - inside[:, :2]).max(1), 32 / 1.6)
