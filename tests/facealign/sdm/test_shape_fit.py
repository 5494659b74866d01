"""Cameras from boxes, batched projection and the regularised shape fit."""

from __future__ import annotations

import numpy as np
import pytest

from facealign.aligners.mean_shape import MeanShapeAligner
from facealign.sdm.shape_fit import (
    ShapeBasis,
    camera_from_box,
    frontal_template,
    project_points,
    rotations,
)
from facegeom.camera import project, rotation_matrix


def test_batched_rotations_and_projection_match_facegeom_camera():
    rng = np.random.default_rng(0)
    angles = rng.uniform(-1.5, 1.5, (5, 3))
    pose = np.concatenate([rng.uniform(0.5, 2, (5, 1)), angles, rng.uniform(0, 100, (5, 2))], 1)
    pts = rng.normal(size=(7, 3))
    rots = rotations(angles)
    for b in range(5):
        np.testing.assert_allclose(rots[b], rotation_matrix(*angles[b]), atol=1e-12)
        np.testing.assert_allclose(project_points(pose, pts)[b], project(pose[b], pts), atol=1e-4)


def test_camera_from_box_places_the_mean_face_like_the_mean_shape_baseline(head_model):
    boxes = np.array([[10.0, 20.0, 90.0, 120.0], [0.0, 0.0, 40.0, 30.0]])
    pose = camera_from_box(frontal_template(head_model), boxes)
    placed = project_points(pose, head_model.mean[head_model.landmarks])[..., :2]
    baseline = MeanShapeAligner(head_model).align([np.zeros((1, 1, 3))] * 2, boxes)
    for b in range(2):
        np.testing.assert_allclose(placed[b], baseline[b].landmarks, atol=1e-3)
    assert np.all(pose[:, 1:4] == 0)


def _explicit_jacobian(basis: ShapeBasis, pose: np.ndarray) -> np.ndarray:
    """(2L, K) derivative of the projected points w.r.t. the coefficients, by finite differences."""
    k = basis.n_components
    base = project_points(pose[None], basis.shapes(np.zeros((1, k))))[0, :, :2].reshape(-1)
    cols = []
    for j in range(k):
        e = np.zeros((1, k))
        e[0, j] = 1.0
        cols.append(project_points(pose[None], basis.shapes(e))[0, :, :2].reshape(-1) - base)
    return np.stack(cols, 1)


def test_fit_is_the_map_estimate_of_the_explicit_least_squares(head_model):
    basis = ShapeBasis.from_model(head_model, head_model.landmarks, 4, 2)
    rng = np.random.default_rng(1)
    pose = np.array([[1.3, 0.2, -0.7, 0.1, 60.0, 50.0], [0.8, -0.3, 1.2, -0.2, 40.0, 70.0]])
    target = rng.uniform(0, 120, (2, 68, 2))
    noise = 3.0
    got = basis.fit(pose, target, noise)
    for b in range(2):
        jac = _explicit_jacobian(basis, pose[b])
        resid = target[b].reshape(-1) - project_points(pose[b : b + 1], basis.mean)[0, :, :2].reshape(-1)
        want = np.linalg.solve(jac.T @ jac + noise**2 * np.diag(basis.inv_var), jac.T @ resid)
        np.testing.assert_allclose(got[b], want, rtol=1e-6, atol=1e-8)


def test_fit_recovers_the_coefficients_of_noiseless_landmarks(head_model):
    basis = ShapeBasis.from_model(head_model, head_model.landmarks, 6, 3)
    coeffs = np.concatenate([head_model.id_std, head_model.exp_std])[None] * np.array(
        [[1.0, -0.5, 0.8, 0.2, -1.0, 0.4, 0.7, -0.3, 0.5]])
    pose = np.array([[1.1, 0.1, 0.6, -0.1, 64.0, 60.0]])
    target = project_points(pose, basis.shapes(coeffs))[..., :2]
    np.testing.assert_allclose(basis.fit(pose, target, 1e-4), coeffs, rtol=1e-4, atol=1e-4)


def test_a_large_landmark_noise_shrinks_the_fit_to_the_mean(head_model):
    basis = ShapeBasis.from_model(head_model, head_model.landmarks, 6, 3)
    pose = np.array([[1.0, 0.0, 0.0, 0.0, 60.0, 60.0]])
    target = np.random.default_rng(2).uniform(0, 120, (1, 68, 2))
    weak = np.abs(basis.fit(pose, target, 1.0)).sum()
    strong = np.abs(basis.fit(pose, target, 1e4)).sum()
    assert strong < 1e-3 * weak


def test_components_are_truncated_to_what_the_model_has(head_model):
    basis = ShapeBasis.from_model(head_model, None, 100, 100)
    assert basis.n_components == head_model.n_id + head_model.n_exp
    assert basis.mean.shape == (head_model.n_vertices, 3)
    with pytest.raises(ValueError):
        basis.shapes(np.zeros((1, 3)))


def test_the_shared_fit_is_the_map_estimate_of_all_faces_stacked(head_model):
    """The generic face model (eq. 11): one coefficient vector for every face, each at its camera."""
    basis = ShapeBasis.from_model(head_model, head_model.landmarks, 4, 2)
    rng = np.random.default_rng(3)
    pose = np.array([[1.3, 0.2, -0.7, 0.1, 60.0, 50.0], [0.8, -0.3, 1.2, -0.2, 40.0, 70.0],
                     [1.0, 0.0, 0.1, 0.0, 55.0, 55.0]])
    target = rng.uniform(0, 120, (3, 68, 2))
    noise = 3.0
    jac = np.concatenate([_explicit_jacobian(basis, pose[b]) for b in range(3)])
    resid = np.concatenate([
        target[b].reshape(-1) - project_points(pose[b : b + 1], basis.mean)[0, :, :2].reshape(-1)
        for b in range(3)])
    want = np.linalg.solve(jac.T @ jac + noise**2 * np.diag(basis.inv_var), jac.T @ resid)
    np.testing.assert_allclose(basis.fit_shared(pose, target, noise), want, rtol=1e-6, atol=1e-8)


def test_the_shared_fit_recovers_a_shape_every_face_shares_and_differs_from_per_face_fits(head_model):
    basis = ShapeBasis.from_model(head_model, head_model.landmarks, 6, 3)
    std = np.concatenate([head_model.id_std, head_model.exp_std])
    shared = std * np.array([1.0, -0.5, 0.8, 0.2, -1.0, 0.4, 0.7, -0.3, 0.5])
    pose = np.array([[1.1, 0.1, 0.6, -0.1, 64.0, 60.0], [0.9, -0.2, -0.9, 0.2, 50.0, 66.0]])
    target = project_points(pose, basis.shapes(np.tile(shared, (2, 1))))[..., :2]
    np.testing.assert_allclose(basis.fit_shared(pose, target, 1e-4), shared, rtol=1e-4, atol=1e-4)
    other = std * np.array([-1.0, 0.5, 0.0, 0.9, 0.3, -0.4, 0.0, 0.6, -0.5])
    target[1] = project_points(pose[1:], basis.shapes(other[None]))[0, :, :2]
    per_face = basis.fit(pose, target, 1e-4)
    generic = basis.fit_shared(pose, target, 1e-4)
    np.testing.assert_allclose(per_face[1], other, rtol=1e-4, atol=1e-4)
    assert np.abs(generic - shared).max() > 0.1 * np.abs(shared).max()  # a compromise of both faces
