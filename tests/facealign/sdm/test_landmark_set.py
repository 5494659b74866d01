"""The 160-point SDM landmark set: iBUG-68 first, then farthest points over the face."""

from __future__ import annotations

import numpy as np
import pytest

from facealign.sdm.landmark_set import face_vertices, farthest_point_sampling, landmark_vertices


def test_farthest_point_sampling_spreads_points_out():
    line = np.linspace(0, 1, 101)[:, None]
    picks = farthest_point_sampling(line, 3, start=np.zeros((0, 1)))
    assert list(picks) == [0, 100, 50]
    seeded = farthest_point_sampling(line, 2, start=np.array([[0.0]]))
    assert list(seeded) == [100, 50]


def test_farthest_point_sampling_refuses_more_points_than_candidates():
    with pytest.raises(ValueError, match="cannot pick"):
        farthest_point_sampling(np.zeros((3, 2)), 4, np.zeros((0, 2)))


def test_landmark_set_starts_with_the_ibug_landmarks_and_has_distinct_face_vertices(head_model):
    ids = landmark_vertices(head_model, 100)
    assert ids.shape == (100,) and ids.dtype == np.int64
    np.testing.assert_array_equal(ids[:68], head_model.landmarks)
    assert len(np.unique(ids)) == 100
    face = set(face_vertices(head_model).tolist())
    assert set(ids[68:].tolist()) <= face


def test_extra_points_fill_the_face_more_evenly_than_the_landmarks_alone(head_model):
    ids = landmark_vertices(head_model, 120)
    face = head_model.mean[face_vertices(head_model)]

    def coverage_radius(chosen: np.ndarray) -> float:
        d = np.linalg.norm(face[:, None] - head_model.mean[chosen][None], axis=-1)
        return float(d.min(1).max())

    assert coverage_radius(ids) < 0.7 * coverage_radius(ids[:68])


def test_face_vertices_exclude_the_back_and_the_outside_of_the_landmark_hull(head_model):
    face = face_vertices(head_model)
    assert np.all(head_model.mean[face, 2] > 0)  # the front half of the tiny head
    lm = head_model.mean[head_model.landmarks]
    xs = head_model.mean[face, 0]
    assert xs.min() >= lm[:, 0].min() - 1e-6 and xs.max() <= lm[:, 0].max() + 1e-6


def test_landmark_set_is_deterministic_and_rejects_too_few_points(head_model):
    np.testing.assert_array_equal(landmark_vertices(head_model, 90), landmark_vertices(head_model, 90))
    with pytest.raises(ValueError, match="at least 68"):
        landmark_vertices(head_model, 50)
