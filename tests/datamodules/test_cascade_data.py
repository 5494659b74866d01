"""Samples of a cascade stage: crop + PNCC of p_k in, normalised p* - p_k out."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from datamodules.cascade_data import CascadeDataModule, CascadeDataset, load_faceset, make_loader
from facealign.data.augment import EFFECTS, AugmentSettings
from facealign.models.net_input import PnccRenderer
from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import from_crop, to_crop

SIZE = 32


@pytest.fixture(scope="module")
def model(tiny_model_path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


@pytest.fixture(scope="module")
def faces(tiny_dataset, model):
    return load_faceset(tiny_dataset / "train", model, crop_scale=1.4, crop_shift=0.1)


def mean_start(faces):
    """p_0 (image frame) and the stage-0 update statistics."""
    truth = to_crop(faces.params, faces.boxes, SIZE)
    stats = ZScore.fit(truth)
    return from_crop(np.broadcast_to(stats.mean, truth.shape), faces.boxes, SIZE), stats


def test_faceset_holds_square_boxes_around_the_landmarks(faces, model):
    n = len(faces)
    assert faces.params.shape == (n, 6 + model.n_id + model.n_exp) and faces.landmarks.shape == (n, 68, 2)
    w, h = faces.boxes[:, 2] - faces.boxes[:, 0], faces.boxes[:, 3] - faces.boxes[:, 1]
    np.testing.assert_allclose(w, h)
    assert np.all(faces.landmarks.min(1) > faces.boxes[:, :2])
    assert np.all(faces.landmarks.max(1) < faces.boxes[:, 2:])


def test_sample_is_the_crop_and_pncc_with_the_normalised_update(faces, model):
    estimates, stats = mean_start(faces)
    sample = CascadeDataset(faces, model, estimates, stats, SIZE)[3]
    assert sample["input"].shape == (6, SIZE, SIZE) and sample["input"].dtype == torch.float32
    assert sample["input"].min() >= -0.5 and sample["input"].max() <= 0.5
    p_true = to_crop(faces.params[3], faces.boxes[3], SIZE)
    np.testing.assert_allclose(stats.denormalize(sample["target"].numpy()) + sample["p_k"].numpy(), p_true,
                               rtol=1e-4, atol=1e-3)
    pncc = sample["input"][3:] + 0.5
    face = pncc.sum(0) > 0
    assert 0.1 < face.float().mean() < 0.9  # the mean face covers part of the crop, not all of it


def test_ground_truth_landmarks_in_the_crop_match_the_projected_parameters(faces, model):
    estimates, stats = mean_start(faces)
    sample = CascadeDataset(faces, model, estimates, stats, SIZE)[0]
    p_true = torch.as_tensor(stats.denormalize(sample["target"].numpy()) + sample["p_k"].numpy())[None]
    projected = SparseGeometry(model).landmarks(p_true)[0]
    assert torch.linalg.vector_norm(projected - sample["landmarks"], dim=1).mean() < 0.5  # crop pixels


def test_pncc_shows_the_current_estimate(faces, model):
    estimates, stats = mean_start(faces)
    ds = CascadeDataset(faces, model, estimates, stats, SIZE, cache_pncc=False)
    direct = PnccRenderer(model)(to_crop(estimates[5], faces.boxes[5], SIZE), SIZE)
    np.testing.assert_allclose(ds[5]["input"][3:].numpy().transpose(1, 2, 0) + 0.5, direct, atol=1 / 255)


def test_cached_samples_equal_fresh_ones_and_jittered_ones_stay_consistent(faces, model):
    estimates, stats = mean_start(faces)
    fresh = CascadeDataset(faces, model, estimates, stats, SIZE, cache_pncc=False)
    cached = CascadeDataset(faces, model, estimates, stats, SIZE, cache_pncc=True)
    for i in (0, 7):
        cached[i]
        diff = (cached[i]["input"] - fresh[i]["input"]).abs()  # bilinear sampling rounds differently
        assert diff.max() <= 4 / 255 and diff.mean() < 1e-3
    torch.manual_seed(0)
    jittered = CascadeDataset(faces, model, estimates, stats, SIZE, box_jitter=0.05)
    sample = jittered[2]
    # the jittered PNCC equals a fresh rendering of p_k in the jittered crop, up to resampling
    direct = PnccRenderer(model)(sample["p_k"].numpy().astype(np.float64), SIZE)
    got = sample["input"][3:].numpy().transpose(1, 2, 0) + 0.5
    assert np.mean(np.abs(got - direct)) < 0.03
    assert not np.allclose(sample["p_k"].numpy(), fresh[2]["p_k"].numpy())


@pytest.mark.parametrize("cache", [True, False])
def test_pose_noise_perturbs_p_k_and_its_pncc_together(faces, model, cache):
    estimates, stats = mean_start(faces)
    torch.manual_seed(1)
    noisy = CascadeDataset(faces, model, estimates, stats, SIZE, param_noise=0.3, cache_pncc=cache)
    sample = noisy[4]
    p_clean = to_crop(estimates[4], faces.boxes[4], SIZE)
    moved = sample["p_k"].numpy() - p_clean
    assert np.all(moved[:6] != 0) and np.allclose(moved[6:], 0, atol=1e-3)  # pose only
    direct = PnccRenderer(model)(sample["p_k"].numpy().astype(np.float64), SIZE)
    np.testing.assert_allclose(sample["input"][3:].numpy().transpose(1, 2, 0) + 0.5, direct, atol=1 / 255)
    p_true = to_crop(faces.params[4], faces.boxes[4], SIZE)  # the target still leads to p*
    np.testing.assert_allclose(stats.denormalize(sample["target"].numpy()) + sample["p_k"].numpy(), p_true,
                               rtol=1e-4, atol=1e-3)


def test_workers_fill_one_shared_cache(faces, model):
    estimates, stats = mean_start(faces)
    ds = CascadeDataset(faces, model, estimates, stats, SIZE)
    batches = list(make_loader(ds, batch_size=8, num_workers=2))
    assert sum(len(b["index"]) for b in batches) == len(faces)
    assert bool(ds.cached.all())  # filled by the worker processes, visible here


def test_datamodule_drops_the_last_partial_training_batch(faces, model):
    estimates, stats = mean_start(faces)
    ds = CascadeDataset(faces, model, estimates, stats, SIZE)
    dm = CascadeDataModule(ds, ds, batch_size=5, num_workers=0)
    assert all(len(b["index"]) == 5 for b in dm.train_dataloader())
    assert sum(len(b["index"]) for b in dm.val_dataloader()) == len(faces)


def test_missing_data_points_to_the_pipeline(tmp_path, model):
    with pytest.raises(FileNotFoundError, match="dvc repro synthesize"):
        load_faceset(tmp_path / "nowhere", model, 1.4, 0.1)


ALL_EFFECTS = AugmentSettings(**dict.fromkeys(EFFECTS, 1.0))


@pytest.mark.parametrize("param_noise", [0.0, 0.3])
def test_augmentation_changes_the_training_crop_only(faces, model, param_noise):
    estimates, stats = mean_start(faces)
    plain = CascadeDataset(faces, model, estimates, stats, SIZE, box_jitter=0.05, param_noise=param_noise)
    augmented = CascadeDataset(faces, model, estimates, stats, SIZE, box_jitter=0.05, param_noise=param_noise,
                               augment=ALL_EFFECTS)
    for i in (1, 6):
        torch.manual_seed(i)
        a = plain[i]
        torch.manual_seed(i)
        b = augmented[i]  # the same box jitter and pose noise: they are drawn first
        assert not torch.equal(a["input"][:3], b["input"][:3])
        assert torch.equal(a["input"][3:], b["input"][3:])  # the PNCC of p_k
        for key in ("target", "p_k", "landmarks"):
            assert torch.equal(a[key], b[key]), key
    assert torch.equal(plain.cache, augmented.cache)  # the cache holds the un-augmented crops


def test_unaugmented_datasets_are_unchanged_by_zero_probabilities(faces, model):
    estimates, stats = mean_start(faces)
    plain = CascadeDataset(faces, model, estimates, stats, SIZE)  # as the validation set is made
    off = CascadeDataset(faces, model, estimates, stats, SIZE,
                         augment=AugmentSettings(**dict.fromkeys(EFFECTS, 0.0)))
    assert plain.augment is None and off.augment is None
    for i in (0, 3):
        assert torch.equal(plain[i]["input"], off[i]["input"])


def test_augmented_samples_vary_from_call_to_call(faces, model):
    estimates, stats = mean_start(faces)
    ds = CascadeDataset(faces, model, estimates, stats, SIZE, augment=ALL_EFFECTS)
    first, second = ds[2], ds[2]
    assert not torch.equal(first["input"][:3], second["input"][:3])
    assert torch.equal(first["target"], second["target"])
