"""Per-dimension z-scores of parameter vectors, saved as plain arrays."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from facealign.models.param_stats import ZScore, load_stats, save_stats


def test_normalise_then_denormalise_is_the_identity():
    rng = np.random.default_rng(0)
    values = rng.normal([1.0, -200.0, 0.01], [0.1, 50.0, 0.001], size=(500, 3))
    stats = ZScore.fit(values)
    z = stats.normalize(values)
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)
    np.testing.assert_allclose(stats.denormalize(z), values, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(stats.denormalize_torch(torch.as_tensor(z)),
                               torch.as_tensor(stats.denormalize(z), dtype=torch.float32))


def test_constant_dimensions_get_a_floor_instead_of_zero_std():
    values = np.c_[np.arange(10.0), np.full(10, 3.0)]
    stats = ZScore.fit(values)
    assert stats.std[1] > 0 and np.isfinite(stats.normalize(values)).all()


def test_statistics_round_trip_through_npz(tmp_path):
    a, b = ZScore.fit(np.random.default_rng(1).normal(size=(20, 4))), ZScore.fit(np.eye(4) * 3)
    save_stats(tmp_path / "stats.npz", {"params": a, "delta0": b})
    loaded = load_stats(tmp_path / "stats.npz", ["params", "delta0"])
    np.testing.assert_array_equal(loaded["params"].mean, a.mean)
    np.testing.assert_array_equal(loaded["delta0"].std, b.std)
    with np.load(tmp_path / "stats.npz", allow_pickle=False) as data:  # plain arrays only
        assert sorted(data.files) == ["delta0_mean", "delta0_std", "params_mean", "params_std"]
    with pytest.raises(ValueError, match="delta1"):
        load_stats(tmp_path / "stats.npz", ["delta1"])
