"""Test-time flip averaging: the mirror pass is renumbered, flipped back and averaged."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import tiny_faces

from facealign.aligners.flip_average import MIRROR_68, FlipAveraged, mirror_boxes, mirror_landmarks
from facealign.aligners.loading import load_local_aligner
from facealign.aligners.mean_shape import MeanShapeAligner
from facealign.data import readers
from facealign.manifest import manifest_path


def test_mirror_68_is_an_involution_that_maps_a_symmetric_face_onto_itself():
    assert sorted(MIRROR_68.tolist()) == list(range(68))
    assert np.array_equal(MIRROR_68[MIRROR_68], np.arange(68))
    layout = tiny_faces.face_layout()  # iBUG order, symmetric about x = 0
    np.testing.assert_allclose(layout[MIRROR_68] * [-1.0, 1.0], layout, atol=1e-9)


def test_a_real_face_mirrored_keeps_each_eye_on_its_image_side(shared_dir):
    record = readers.read_folder(shared_dir / "real/aflw2000_dev")[0]
    width = float(readers.load_image(record.image_path).shape[1])
    once = mirror_landmarks(record.landmarks68, width)
    # point 36 (outer corner of the image-left eye) stays left of point 45 after the renumbering
    assert once[36, 0] < once[45, 0] and once[0, 0] < once[16, 0]
    np.testing.assert_allclose(mirror_landmarks(once, width), record.landmarks68, atol=1e-9)


def test_mirror_boxes_flip_x_only_and_twice_is_identity():
    boxes = np.array([[10.0, 20.0, 50.0, 90.0]])
    flipped = mirror_boxes(boxes, np.array([120.0]))
    np.testing.assert_allclose(flipped, [[69.0, 20.0, 109.0, 90.0]])
    np.testing.assert_allclose(mirror_boxes(flipped, np.array([120.0])), boxes)


class RightBiased:
    """A mean-shape aligner whose answers sit ``shift`` pixels too far right and turned ``yaw``."""

    name = "mean-shape"

    def __init__(self, inner: MeanShapeAligner, shift: float, yaw: float) -> None:
        self.inner, self.shift, self.yaw = inner, shift, yaw

    def align(self, images, boxes):
        return [replace(a, landmarks=a.landmarks + np.float32([self.shift, 0.0]), yaw=a.yaw + self.yaw,
                        roll=a.roll + 2.0)
                for a in self.inner.align(images, boxes)]


def test_flip_averaging_cancels_a_left_right_bias_and_undoes_the_mirrored_angles():
    plain = MeanShapeAligner(tiny_faces.face_model())
    images = [np.zeros((120, 140, 3), np.uint8), np.zeros((100, 100, 3), np.uint8)]
    boxes = np.array([[20.0, 15.0, 90.0, 100.0], [30.0, 10.0, 70.0, 60.0]])
    truth = plain.align(images, boxes)
    averaged = FlipAveraged(RightBiased(plain, shift=3.0, yaw=10.0)).align(images, boxes)
    for want, got in zip(truth, averaged, strict=True):
        np.testing.assert_allclose(got.landmarks, want.landmarks, atol=1e-3)
        # the mirror pass carries the same +10 deg yaw and +2 deg roll bias, which the sign flip cancels
        assert abs(got.yaw - want.yaw) < 1e-6 and abs(got.roll - want.roll) < 1e-6
        assert got.landmarks.shape == (68, 2) and got.landmarks.dtype == np.float32
    assert FlipAveraged(plain).align([], np.zeros((0, 4))) == []


def test_a_manifest_asking_for_test_time_flip_loads_the_aligner_wrapped(tmp_path):
    directory = tiny_faces.mean_shape_dir(tmp_path / "plain")
    assert not isinstance(load_local_aligner(directory), FlipAveraged)
    manifest = json.loads(manifest_path(directory).read_text())
    manifest_path(directory).write_text(json.dumps({**manifest, "test_time_flip": True}))
    wrapped = load_local_aligner(directory)
    assert isinstance(wrapped, FlipAveraged) and wrapped.name == wrapped.inner.name == "mean-shape"
    assert wrapped.content_hash is not None and wrapped.content_hash == wrapped.inner.content_hash
