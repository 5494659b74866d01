"""PDC, WPDC and VDC: the three training losses of a cascade stage."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facealign.models.losses import CascadeLoss, wpdc_weights
from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry, sparse_vertex_ids
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params, project_params


@pytest.fixture(scope="module")
def model(tiny_model_path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


def random_params(model: MorphableModel, rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, P) crop-frame parameters: a face about 40 px wide near the centre of a 64 px crop."""
    p = np.zeros((n, n_params(model)))
    p[:, 0] = 40.0 / np.ptp(model.mean[:, 0]) * rng.uniform(0.9, 1.1, n)
    p[:, 1:4] = rng.uniform(-0.5, 0.5, (n, 3))
    p[:, 4:6] = 32 + rng.normal(0, 2, (n, 2))
    p[:, 6 : 6 + model.n_id] = rng.normal(size=(n, model.n_id)) * model.id_std
    p[:, 6 + model.n_id :] = rng.normal(size=(n, model.n_exp)) * model.exp_std
    return p


def setup(model, seed=0, n=4):
    rng = np.random.default_rng(seed)
    p_k, p_true = random_params(model, rng, n), random_params(model, rng, n)
    stats = ZScore.fit(random_params(model, rng, 200) - random_params(model, rng, 200))
    target = torch.as_tensor(stats.normalize(p_true - p_k))
    return torch.as_tensor(p_k, dtype=torch.float32), target, stats


@pytest.mark.parametrize("kind", ["pdc", "wpdc", "vdc"])
def test_each_loss_is_zero_at_the_target_positive_elsewhere_and_differentiable(model, kind):
    p_k, target, stats = setup(model)
    loss = CascadeLoss(kind, SparseGeometry(model, 20), stats, input_size=64)
    assert loss(target, target, p_k).item() == pytest.approx(0.0, abs=1e-9)
    pred = (target + 0.3 * torch.randn_like(target)).requires_grad_()
    value = loss(pred, target, p_k)
    value.backward()
    assert value.item() > 0 and pred.grad.abs().sum() > 0


def test_wpdc_weight_is_the_vertex_displacement_of_each_dimensions_error(model):
    """w_i ~ || V(p* + err_i e_i) - V(p*) || over the sparse vertices, scaled to max 1."""
    rng = np.random.default_rng(3)
    p_true, p_pred = random_params(model, rng, 2), random_params(model, rng, 2)
    geometry = SparseGeometry(model, 30)
    ids = sparse_vertex_ids(model, 30)
    weights = wpdc_weights(torch.as_tensor(p_true), torch.as_tensor(p_pred), geometry).numpy()
    for b in range(2):
        base = project_params(p_true[b], model)[ids]
        brute = np.empty(p_true.shape[1])
        for i in range(p_true.shape[1]):
            moved = p_true[b].copy()
            moved[i] = p_pred[b, i]
            brute[i] = np.linalg.norm(project_params(moved, model)[ids] - base)
        np.testing.assert_allclose(weights[b], brute / brute.max(), atol=2e-4)


def test_wpdc_ignores_dimensions_without_error(model):
    p_k, target, stats = setup(model, seed=1)
    pred = target.clone()
    pred[:, 7] += 1.0
    loss = CascadeLoss("wpdc", SparseGeometry(model, 20), stats, 64)
    p_true, p_pred = loss.raw(target, p_k), loss.raw(pred, p_k)
    w = wpdc_weights(p_true, p_pred, loss.geometry)
    assert torch.all(w[:, 7] == 1.0) and torch.all(w.sum(1) == 1.0)


def test_vdc_is_the_mean_squared_vertex_distance_in_crop_sides(model):
    p_k, target, stats = setup(model, seed=2, n=1)
    pred = target + 0.5
    loss = CascadeLoss("vdc", SparseGeometry(model, 25), stats, input_size=64)
    ids = sparse_vertex_ids(model, 25)
    v_pred = project_params(loss.raw(pred, p_k)[0].double().numpy(), model)[ids]
    v_true = project_params(loss.raw(target, p_k)[0].double().numpy(), model)[ids]
    expected = np.mean(np.sum((v_pred - v_true) ** 2, axis=1)) / 64**2
    assert loss(pred, target, p_k).item() == pytest.approx(expected, rel=1e-3)


def test_unknown_loss_is_refused(model):
    with pytest.raises(ValueError, match="unknown loss 'l1'"):
        CascadeLoss("l1", SparseGeometry(model), ZScore(np.zeros(3, np.float32), np.ones(3, np.float32)), 64)
