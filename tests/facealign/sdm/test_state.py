"""One SDM iteration: visibility, features, the ideal update and the cascade loop."""

from __future__ import annotations

import numpy as np

from facealign.sdm.descriptors import DFFDescriptor
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.regression import DescentMap
from facealign.sdm.state import SDMGeometry, SDMState, features, run_cascade

SIZE = 64


def _geometry(model, noise: float = 1e-4) -> SDMGeometry:
    return SDMGeometry.from_model(model, landmark_vertices(model, 90), 6, 3, noise)


def _face(model, yaw_deg: float) -> SDMState:
    coeffs = np.concatenate([model.id_std, model.exp_std])[None] * 0.8
    return SDMState(np.array([[0.25, 0.1, np.deg2rad(yaw_deg), 0.05, 32.0, 34.0]]), coeffs)


def test_initial_state_is_the_frontal_mean_face_in_the_box(head_model):
    geo = _geometry(head_model)
    state = geo.initial_state(np.array([[12.0, 10.0, 52.0, 54.0]]))
    pts = geo.points(state)[0, :68, :2]
    assert np.all(state.coeffs == 0) and np.all(state.pose[:, 1:4] == 0)
    np.testing.assert_allclose((pts.min(0) + pts.max(0)) / 2, [32.0, 32.0], atol=1e-6)


def test_frontal_faces_see_their_landmarks_and_profiles_hide_the_far_side(head_model):
    geo = _geometry(head_model)
    frontal = geo.visibility(_face(head_model, 0), SIZE, SIZE)[0]
    assert frontal.mean() > 0.95
    profile_state = _face(head_model, 80)
    profile = geo.visibility(profile_state, SIZE, SIZE)[0]
    x_model = head_model.mean[geo.vertex_ids, 0]
    # yaw > 0 turns the nose to the image left: the model's +x side faces the camera
    assert profile[x_model > 20].mean() > 0.9
    assert profile[x_model < -20].mean() < 0.3


def test_the_ideal_update_reaches_a_face_in_the_model_span(head_model):
    geo = _geometry(head_model)
    truth = _face(head_model, 35)
    start = geo.initial_state(np.array([[14.0, 12.0, 50.0, 56.0]]))
    delta = geo.residual(start, geo.points(truth)[..., :2], truth.pose)
    assert delta.shape == (1, geo.n_outputs)
    moved = geo.update(start, delta, SIZE)
    np.testing.assert_allclose(moved.pose, truth.pose, atol=1e-9)
    np.testing.assert_allclose(geo.points(moved), geo.points(truth), atol=1e-3)


def test_a_zero_cascade_leaves_the_initial_estimate_where_it_is(head_model):
    class Flat:
        image_size, dim = SIZE, 2

        def describe(self, images):
            return np.ones((len(images), 2, SIZE, SIZE), np.float32)

    geo = _geometry(head_model)
    desc = DFFDescriptor(Flat())
    prepared = desc.prepare(np.zeros((2, SIZE, SIZE, 3), np.uint8))
    start = geo.initial_state(np.array([[14.0, 12.0, 50.0, 56.0], [20.0, 20.0, 40.0, 44.0]]))
    feats = features(geo, desc, prepared, start)
    assert feats.shape == (2, geo.n_points * 2)
    zero = DescentMap(np.zeros((feats.shape[1], geo.n_outputs), np.float32), np.zeros(geo.n_outputs))
    seen = []
    end = run_cascade(geo, desc, (zero, zero), prepared, start, lambda k, s: seen.append(k))
    assert seen == [0, 1]
    np.testing.assert_allclose(geo.points(end), geo.points(start), atol=1e-6)


def test_a_half_size_z_buffer_agrees_with_the_full_one_on_most_points(head_model):
    geo = _geometry(head_model)
    for yaw in (0, 45, 80):
        full = geo.visibility(_face(head_model, yaw), SIZE, SIZE)
        half = geo.visibility(_face(head_model, yaw), SIZE, SIZE, scale=0.5)
        assert (full == half).mean() > 0.9


def test_regressing_the_68_landmarks_moves_them_and_fits_the_shape_to_them_only(head_model):
    geo = SDMGeometry.from_model(head_model, landmark_vertices(head_model, 90), 6, 3, 1e-4, n_targets=68)
    assert geo.n_targets == 68 and geo.n_outputs == 2 * 68 + 6
    truth = _face(head_model, 35)
    start = geo.initial_state(np.array([[14.0, 12.0, 50.0, 56.0]]))
    delta = geo.residual(start, geo.points(truth)[..., :2], truth.pose)
    assert delta.shape == (1, 142)
    moved = geo.update(start, delta, SIZE)
    # the model span holds the truth, so the 68 targets pin down all 90 points
    np.testing.assert_allclose(geo.points(moved), geo.points(truth), atol=1e-3)


def test_the_generic_update_gives_every_face_one_shape(head_model):
    geo = _geometry(head_model)
    faces = [_face(head_model, yaw) for yaw in (-40, 10, 60)]
    truth = SDMState(np.concatenate([f.pose for f in faces]),
                     np.concatenate([f.coeffs * s for f, s in zip(faces, (1.0, -0.5, 0.2), strict=True)]))
    start = geo.initial_state(np.tile([[14.0, 12.0, 50.0, 56.0]], (3, 1)))
    delta = geo.residual(start, geo.points(truth)[..., :2], truth.pose)
    per_image = geo.update(start, delta, SIZE)
    generic = geo.update(start, delta, SIZE, shared=True)
    np.testing.assert_allclose(per_image.coeffs, truth.coeffs, atol=1e-3)
    assert np.ptp(generic.coeffs, axis=0).max() == 0  # one shape vector for the batch
    np.testing.assert_allclose(generic.pose, truth.pose)  # cameras stay per face
    assert np.abs(generic.coeffs[0] - truth.coeffs[0]).max() > 0.1
