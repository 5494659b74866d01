"""Closed-form ridge regression and the saved cascade."""

from __future__ import annotations

import numpy as np
import pytest

from facealign.sdm.regression import Cascade, DescentMap, ridge, select_ridge, select_ridge_blocks


def _linear_problem(n: int, d: int, m: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    w = rng.normal(size=(d, m))
    b = rng.normal(size=m)
    return x, w, b, x.astype(np.float64) @ w + b


def test_weak_ridge_recovers_an_exact_linear_map_with_its_intercept():
    x, w, b, y = _linear_problem(200, 10, 3)
    fitted = ridge(x, y, 1e-8)
    np.testing.assert_allclose(fitted.matrix, w, atol=1e-3)
    np.testing.assert_allclose(fitted.bias, b, atol=1e-3)
    np.testing.assert_allclose(fitted(x), y, atol=1e-3)


def test_primal_and_dual_forms_give_the_same_solution():
    x, _, _, y = _linear_problem(40, 30, 2, seed=1)
    # n > d solves the d x d system; the transposed problem shape n <= d the n x n one
    primal = ridge(x, y, 0.3)
    wide = np.concatenate([x, np.zeros((40, 20), np.float32)], 1)  # d = 50 > n = 40
    dual = ridge(wide, y, 0.3 * 50 / 30)  # same absolute penalty: lam = strength * sum / d
    np.testing.assert_allclose(dual.matrix[:30], primal.matrix, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(dual.matrix[30:], 0.0, atol=1e-6)
    np.testing.assert_allclose(dual.bias, primal.bias, rtol=1e-4, atol=1e-5)


def test_stronger_ridge_shrinks_the_map_and_predicts_the_mean():
    x, _, _, y = _linear_problem(100, 20, 2, seed=2)
    weak, strong = ridge(x, y, 0.01), ridge(x, y, 1e6)
    assert np.linalg.norm(strong.matrix) < 1e-3 * np.linalg.norm(weak.matrix)
    np.testing.assert_allclose(strong(x), np.broadcast_to(y.mean(0), y.shape), atol=1e-2)


def test_ridge_strength_is_invariant_to_the_feature_scale():
    x, _, _, y = _linear_problem(60, 80, 2, seed=3)
    np.testing.assert_allclose(ridge(x, y, 0.5)(x), ridge(100 * x, y, 0.5)(100 * x), rtol=1e-3, atol=1e-3)


def test_ridge_strength_must_be_positive():
    x, _, _, y = _linear_problem(10, 3, 1)
    with pytest.raises(ValueError, match="positive"):
        ridge(x, y, 0.0)


def test_cascade_round_trips_through_npz(tmp_path):
    rng = np.random.default_rng(4)
    maps = tuple(DescentMap(rng.normal(size=(12, 5)).astype(np.float32), rng.normal(size=5))
                 for _ in range(3))
    Cascade(maps).save(tmp_path / "cascade.npz")
    loaded = Cascade.load(tmp_path / "cascade.npz")
    assert len(loaded) == 3
    for a, b in zip(maps, loaded.maps, strict=True):
        assert b.matrix.dtype == np.float32
        np.testing.assert_allclose(b.matrix, a.matrix, atol=1e-3 * np.abs(a.matrix).max())
        np.testing.assert_array_equal(a.bias, b.bias)
    tiny = Cascade((DescentMap(maps[0].matrix * 1e-9, maps[0].bias),))  # far below float16's range
    tiny.save(tmp_path / "tiny.npz")
    np.testing.assert_allclose(Cascade.load(tmp_path / "tiny.npz").maps[0].matrix, tiny.maps[0].matrix,
                               rtol=1e-3, atol=1e-3 * np.abs(tiny.maps[0].matrix).max())


def test_loading_a_damaged_cascade_names_the_file(tmp_path):
    np.savez(tmp_path / "bad.npz", n_maps=np.array(2), matrix_0=np.zeros((2, 2)), bias_0=np.zeros(2))
    with pytest.raises(ValueError, match="bad.npz.*matrix_1"):
        Cascade.load(tmp_path / "bad.npz")
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        Cascade.load(tmp_path / "missing.npz")


def test_cross_validation_prefers_weak_ridge_for_signal_and_strong_ridge_for_noise():
    x, _, _, y = _linear_problem(120, 200, 2, seed=5)  # n < d: the dual form
    fit = select_ridge(x, y, (1e-4, 1e-2, 1.0, 100.0))
    assert fit.strength <= 1e-2 and set(fit.scores) == {1e-4, 1e-2, 1.0, 100.0}
    noise = np.random.default_rng(6).normal(size=(120, 2))
    assert select_ridge(x, noise, (1e-4, 1e-2, 1.0, 100.0)).strength == 100.0


def test_out_of_fold_predictions_come_from_maps_that_did_not_see_the_sample():
    x, _, _, _ = _linear_problem(90, 300, 1, seed=9)
    memorised = np.random.default_rng(10).normal(size=(90, 1))  # no signal: only memorisable
    fit = select_ridge(x, memorised, (1e-6,), folds=3)
    in_sample = fit.descent(x)
    assert np.mean((in_sample - memorised) ** 2) < 1e-3  # the full fit memorises ...
    assert np.mean((fit.predictions - memorised) ** 2) > 0.5  # ... out-of-fold it cannot


def test_selection_scores_only_the_requested_outputs_and_works_in_primal_form():
    x, _, _, y = _linear_problem(300, 8, 1, seed=7)  # n > d: the primal form
    rng = np.random.default_rng(8)
    targets = np.concatenate([y, rng.normal(size=(300, 1)) * 100], 1)  # a loud pure-noise column
    assert select_ridge(x, targets, (1e-4, 1e4), score_outputs=slice(0, 1)).strength == 1e-4
    single = select_ridge(x, targets, (0.5,), folds=0)
    assert single.strength == 0.5 and single.scores == {}
    np.testing.assert_allclose(single.descent.matrix, ridge(x, targets, 0.5).matrix)
    np.testing.assert_allclose(single.predictions, single.descent(x))


def test_dual_and_primal_cross_validation_agree():
    x, _, _, y = _linear_problem(60, 50, 2, seed=11)
    y = y + np.random.default_rng(12).normal(size=y.shape)
    primal = select_ridge(x, y, (0.1, 1.0), folds=3, seed=4)  # n = 60 > d = 50
    wide = np.concatenate([x, np.zeros((60, 30), np.float32)], 1)  # d = 80 > n: dual
    dual = select_ridge(wide, y, (0.1 * 80 / 50, 1.0 * 80 / 50), folds=3, seed=4)
    np.testing.assert_allclose(dual.predictions, primal.predictions, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(sorted(dual.scores.values()), sorted(primal.scores.values()), rtol=1e-3)


def test_a_penalised_bias_is_the_ridge_solution_of_the_features_with_a_constant_one():
    """Eqs. 9-10 as written: lam * ||[W; b]||^2, the bias shrinks with the matrix."""
    x, _, _, y = _linear_problem(60, 8, 3, seed=5)
    strength = 0.5
    fit = select_ridge(x, y, (strength,), folds=0, penalise_bias=True)
    aug = np.concatenate([x.astype(np.float64), np.ones((60, 1))], 1)
    lam = strength * float((aug**2).sum()) / aug.shape[1]
    want = np.linalg.solve(aug.T @ aug + lam * np.eye(9), aug.T @ y)
    np.testing.assert_allclose(fit.descent.matrix, want[:-1], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fit.descent.bias, want[-1], rtol=1e-3, atol=1e-4)


def test_a_strong_penalty_on_the_bias_predicts_zero_not_the_mean():
    x, _, _, y = _linear_problem(80, 6, 2, seed=6)
    y = y + 50.0
    unpenalised = select_ridge(x, y, (1e6,), folds=0)
    penalised = select_ridge(x, y, (1e6,), folds=0, penalise_bias=True)
    np.testing.assert_allclose(unpenalised.descent(x), np.broadcast_to(y.mean(0), y.shape), atol=1e-2)
    assert np.abs(penalised.descent(x)).max() < 1e-2 * np.abs(y).mean()


def test_separate_blocks_are_each_their_own_ridge_problem_with_their_own_strength():
    x, _, _, y = _linear_problem(90, 12, 5, seed=7)
    blocks = ((slice(0, 3), (0.01, 100.0)), (slice(3, 5), (3.0,)))
    fit, chosen = select_ridge_blocks(x, y, blocks, folds=3, seed=1, penalise_bias=True)
    assert chosen == (0.01, 3.0)  # an exact linear signal prefers the weak one
    for (columns, _), strength in zip(blocks, chosen, strict=True):
        alone = select_ridge(x, y[:, columns], (strength,), folds=3, seed=1, penalise_bias=True)
        np.testing.assert_allclose(fit.descent.matrix[:, columns], alone.descent.matrix, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fit.descent.bias[columns], alone.descent.bias, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(fit.predictions[:, columns], alone.predictions, rtol=1e-4, atol=1e-5)
    with pytest.raises(ValueError, match="cover 3 of 5"):
        select_ridge_blocks(x, y, blocks[:1], folds=0)
