"""Descriptors at projected points: bilinear DFF sampling and OpenCV SIFT."""

from __future__ import annotations

import cv2
import numpy as np

from facealign.sdm.descriptors import DFFDescriptor, SIFTDescriptor, bilinear_sample


class FakeExtractor:
    """Stands in for the DFF network: per-pixel (x, y, 1) / norm, so samples reveal positions."""

    image_size = 16
    dim = 3

    def __init__(self) -> None:
        self.calls = 0

    def describe(self, images: np.ndarray) -> np.ndarray:
        self.calls += 1
        yy, xx = np.mgrid[0 : self.image_size, 0 : self.image_size].astype(np.float32)
        maps = np.stack([xx, yy, np.ones_like(xx)])
        return np.broadcast_to(maps, (len(images), *maps.shape)).copy()


def test_bilinear_sample_is_exact_at_pixel_centres_and_linear_between():
    maps = np.random.default_rng(0).normal(size=(2, 5, 6, 4)).astype(np.float32)
    at_centres = bilinear_sample(maps, np.array([[[2.0, 3.0], [0.0, 0.0]], [[5.0, 4.0], [1.0, 2.0]]]))
    np.testing.assert_allclose(at_centres[0, 0], maps[0, 3, 2], atol=1e-6)
    np.testing.assert_allclose(at_centres[1, 0], maps[1, 4, 5], atol=1e-6)
    between = bilinear_sample(maps, np.array([[[2.25, 3.0]]] * 2))[0, 0]
    np.testing.assert_allclose(between, 0.75 * maps[0, 3, 2] + 0.25 * maps[0, 3, 3], atol=1e-6)


def test_bilinear_sample_clamps_points_outside_the_map():
    maps = np.arange(2 * 3 * 1, dtype=np.float32).reshape(1, 2, 3, 1)
    got = bilinear_sample(maps, np.array([[[-5.0, -5.0], [10.0, 10.0]]]))[0, :, 0]
    np.testing.assert_allclose(got, [maps[0, 0, 0, 0], maps[0, 1, 2, 0]])


def test_dff_descriptor_samples_the_network_output_and_zeros_hidden_points():
    extractor = FakeExtractor()
    desc = DFFDescriptor(extractor, batch_size=2)
    crops = np.zeros((3, 16, 16, 3), np.uint8)
    prepared = desc.prepare(crops)
    assert extractor.calls == 2  # batches of 2
    assert prepared.shape == (3, 16, 16, 3)
    points = np.array([[[3.5, 7.25], [10.0, 2.0]]] * 3)
    visible = np.array([[True, False]] * 3)
    feats = desc.sample(prepared, points, visible)
    assert feats.shape == (3, 2 * 3) and feats.dtype == np.float32
    np.testing.assert_allclose(feats[:, :3], [[3.5, 7.25, 1.0]] * 3, atol=1e-2)
    assert np.all(feats[:, 3:] == 0)


def _textured_image(size: int, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).uniform(0, 255, (size, size)).astype(np.float32)
    grey = cv2.GaussianBlur(noise, (0, 0), 2.0)
    grey = (grey - grey.min()) / (grey.max() - grey.min()) * 255
    return np.repeat(grey.astype(np.uint8)[..., None], 3, axis=2)


def test_sift_descriptors_are_unit_vectors_in_point_order_with_hidden_points_zero():
    desc = SIFTDescriptor(image_size=64, patch=0.25)
    crops = _textured_image(64)[None]
    points = np.array([[[20.0, 30.0], [40.0, 12.0], [33.0, 50.0]]])
    visible = np.array([[True, False, True]])
    feats = desc.sample(desc.prepare(crops), points, visible).reshape(1, 3, 128)
    np.testing.assert_allclose(np.linalg.norm(feats[0, [0, 2]], axis=1), 1.0, atol=1e-5)
    assert np.all(feats[0, 1] == 0)
    alone = desc.sample(desc.prepare(crops), points[:, 2:], visible[:, 2:])
    np.testing.assert_allclose(alone[0], feats[0, 2], atol=1e-6)


def test_sift_descriptors_follow_the_content_when_it_moves():
    desc = SIFTDescriptor(image_size=64, patch=0.25)
    image = _textured_image(80, seed=1)
    a, b = image[:64, :64], image[8:72, 4:68]  # b is a moved by (-4, -8) pixels
    pa = np.array([[[30.0, 32.0]]])
    fa = desc.sample(desc.prepare(a[None]), pa, np.ones((1, 1), bool))
    fb = desc.sample(desc.prepare(b[None]), pa - [4.0, 8.0], np.ones((1, 1), bool))
    other = desc.sample(desc.prepare(b[None]), pa, np.ones((1, 1), bool))
    same, moved = float(fa[0] @ fb[0]), float(fa[0] @ other[0])
    assert same > 0.95
    assert same > moved + 0.1



def test_sift_threads_give_the_same_descriptors():
    crops = np.stack([_textured_image(64, seed=s) for s in range(5)])
    points = np.random.default_rng(3).uniform(8, 56, (5, 7, 2))
    visible = np.random.default_rng(4).uniform(size=(5, 7)) > 0.3
    one = SIFTDescriptor(64, 0.25, workers=1)
    many = SIFTDescriptor(64, 0.25, workers=3)
    np.testing.assert_array_equal(one.sample(one.prepare(crops), points, visible),
                                  many.sample(many.prepare(crops), points, visible))
