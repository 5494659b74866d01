"""Learning the cascade: with ideal descriptors the SDM must converge on unseen faces.

The "ideal DFF" colours every pixel by the normalised model coordinate of the surface
point it shows (the NCC), which is what a perfect deep face feature would encode.
"""

from __future__ import annotations

import numpy as np
import pytest

from facealign.sdm.descriptors import DFFDescriptor
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.settings import SDMSettings
from facealign.sdm.state import SDMGeometry, SDMState, run_cascade
from facegeom.pncc import render_pncc_pose
from training.sdm import fit_cascade, landmark_nme, perturbed_states
from training.sdm_data import TrainingSet

SIZE = 64


class NCCExtractor:
    """Descriptor maps = the rendered NCC colours (3 values a pixel)."""

    image_size, dim = SIZE, 3

    def describe(self, images: np.ndarray) -> np.ndarray:
        return np.transpose(images.astype(np.float32) / 255.0, (0, 3, 1, 2))


def _faces(model, geometry: SDMGeometry, n: int, seed: int) -> tuple[np.ndarray, TrainingSet]:
    """NCC renders of random faces (|yaw| <= 75 deg) and their ground truth."""
    rng = np.random.default_rng(seed)
    std = np.concatenate([model.id_std, model.exp_std])
    coeffs = rng.standard_normal((n, len(std))).clip(-2, 2) * std
    angles = np.deg2rad(np.stack([rng.uniform(-15, 15, n), rng.uniform(-75, 75, n),
                                  rng.uniform(-15, 15, n)], 1))
    pose = np.concatenate([np.full((n, 1), 0.28), angles, 32 + rng.uniform(-3, 3, (n, 2))], 1)
    points = geometry.points(SDMState(pose, coeffs))[..., :2]
    colours = model.ncc()
    images = np.stack([
        render_pncc_pose(pose[i], model.vertices(coeffs[i, : model.n_id], coeffs[i, model.n_id :]),
                         model.triangles, colours, SIZE, SIZE) for i in range(n)])
    boxes = np.concatenate([points[:, :68].min(1), points[:, :68].max(1)], 1)
    return (images * 255).astype(np.uint8), TrainingSet(None, boxes, pose, points)


@pytest.fixture(scope="module")
def problem(head_model):
    geometry = SDMGeometry.from_model(head_model, landmark_vertices(head_model, 100), 6, 3, 0.01)
    desc = DFFDescriptor(NCCExtractor())
    train_images, train = _faces(head_model, geometry, 150, seed=0)
    train.prepared = desc.prepare(train_images)
    test_images, test = _faces(head_model, geometry, 40, seed=1)
    test.prepared = desc.prepare(test_images)
    return geometry, desc, train, test


@pytest.fixture(scope="module")
def geometry68(head_model, problem):
    """The problem's geometry regressing the 68 iBUG landmarks only."""
    return SDMGeometry.from_model(head_model, problem[0].vertex_ids, 6, 3, 0.01, n_targets=68)


def test_the_learned_cascade_aligns_unseen_faces(problem):
    geometry, desc, train, test = problem
    settings = SDMSettings(iterations=3, ridge=(0.01,), cv_folds=0, inits_per_image=2)
    cascade, history = fit_cascade(geometry, desc, train, settings, np.random.default_rng(0))
    assert len(cascade) == 3
    train_nme = [h["train_nme"] for h in history]
    assert all(b < a for a, b in zip(train_nme, train_nme[1:], strict=False))  # every iteration helps
    start = geometry.initial_state(test.boxes)
    end = run_cascade(geometry, desc, cascade.maps, test.prepared, start)
    before, after = landmark_nme(geometry, start, test.points), landmark_nme(geometry, end, test.points)
    assert after < 0.25 * before
    assert after < 0.03
    yaw_err = np.degrees(np.abs(end.pose[:, 2] - test.pose[:, 2]))
    assert np.median(yaw_err) < 8.0


def test_perturbed_initialisations_start_from_the_exact_one(problem):
    geometry, _, train, _ = problem
    settings = SDMSettings(inits_per_image=3, perturb_scale=0.1, perturb_shift=0.1, perturb_angle_deg=5)
    states = perturbed_states(geometry, train.boxes, settings, np.random.default_rng(0))
    assert len(states) == 3
    np.testing.assert_array_equal(states[0].pose, geometry.initial_state(train.boxes).pose)
    spread = np.std(np.log(states[1].pose[:, 0] / states[0].pose[:, 0]))
    assert 0.05 < spread < 0.2
    assert np.all(states[2].pose[:, 2] != 0)


@pytest.mark.parametrize("choices", [
    {"shape_update": "generic"},
    {"targets": "ibug68"},
    {"ridge_mode": "separate", "lambda_landmarks": (0.01, 0.1), "lambda_camera": (0.01, 0.1)},
    {"shape_update": "generic", "targets": "ibug68", "ridge_mode": "separate",
     "lambda_landmarks": (0.01,), "lambda_camera": (0.01,)},
], ids=["generic", "ibug68", "separate", "paper"])
def test_the_papers_training_choices_also_learn_a_converging_cascade(problem, geometry68, choices):
    geometry, desc, train, test = problem
    settings = SDMSettings(n_landmarks=100, iterations=3, ridge=(0.01,), cv_folds=3, **choices)
    geometry = geometry68 if settings.targets == "ibug68" else geometry
    cascade, history = fit_cascade(geometry, desc, train, settings, np.random.default_rng(0))
    assert cascade.maps[0].matrix.shape[1] == geometry.n_outputs == 2 * settings.n_targets + 6
    if settings.ridge_mode == "separate":
        assert {"lambda_landmarks", "lambda_camera"} <= set(history[1])
    start = geometry.initial_state(test.boxes)
    end = run_cascade(geometry, desc, cascade.maps, test.prepared, start)
    before, after = landmark_nme(geometry, start, test.points), landmark_nme(geometry, end, test.points)
    assert after < 0.35 * before


def test_the_generic_face_model_gives_every_training_estimate_one_shape(problem):
    geometry, desc, train, _ = problem
    seen = []
    original = SDMGeometry.update

    def spy(self, state, delta, crop_size, shared=False):
        out = original(self, state, delta, crop_size, shared)
        seen.append((shared, np.ptp(out.coeffs, axis=0).max()))
        return out

    settings = SDMSettings(iterations=2, ridge=(0.01,), cv_folds=0, shape_update="generic")
    try:
        SDMGeometry.update = spy
        fit_cascade(geometry, desc, train, settings, np.random.default_rng(0))
    finally:
        SDMGeometry.update = original
    assert [shared for shared, _ in seen] == [True, True]
    assert all(spread == 0 for _, spread in seen)
