"""DFF training data: every sampled pixel is a face pixel, labelled with the patch of the
triangle the renderer drew there, in every segmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from datamodules.dff_data import DFFDataModule, DFFDataset, record_params, triangle_map
from facealign.data import readers
from facealign.data.appearance import region_weights
from facealign.data.augment import EFFECTS, AugmentSettings
from facealign.data.synthesize import SynthesisConfig, sample_face
from facegeom.morphable_model import MorphableModel


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


@pytest.fixture(scope="module")
def train_dir(tiny_dataset: Path) -> Path:
    return tiny_dataset / "train"


@pytest.fixture(scope="module")
def lut(model: MorphableModel) -> np.ndarray:
    """(S=3, T) labels: triangle index modulo 5, 7 and 11 (easy to check)."""
    t = np.arange(len(model.triangles))
    return np.stack([t % 5, t % 7, t % 11])


def dataset(train_dir: Path, model: MorphableModel, lut: np.ndarray, **kw) -> DFFDataset:
    records = readers.read_folder(train_dir)
    params = np.stack([record_params(r) for r in records])
    return DFFDataset([r.image_path for r in records], params, model, lut, **kw)


def test_the_label_raster_is_the_renderers_own_z_buffer(model: MorphableModel) -> None:
    cfg = SynthesisConfig(image_size=64, seed=11)
    params, face, _ = sample_face(model, cfg, "train", 0, region_weights(model))
    np.testing.assert_array_equal(triangle_map(model, params, 64, 64), face.raster.triangle)


def test_sampled_pixels_are_face_pixels_with_their_triangles_patches(train_dir, model, lut) -> None:
    ds = dataset(train_dir, model, lut, pixels_per_image=50)
    for i in (0, 5):
        sample = ds[i]
        assert sample["image"].shape == (64, 64, 3) and sample["image"].dtype == torch.uint8
        assert sample["labels"].shape == (3, 50) and sample["valid"].all()
        tri = triangle_map(model, ds.params[i], 64, 64).reshape(-1)[sample["pixels"].numpy()]
        assert (tri >= 0).all()
        np.testing.assert_array_equal(sample["labels"].numpy(), lut[:, tri])


def test_training_samples_vary_validation_samples_do_not(train_dir, model, lut) -> None:
    train = dataset(train_dir, model, lut, pixels_per_image=30)
    val = dataset(train_dir, model, lut, pixels_per_image=30, deterministic=True)
    assert not torch.equal(train[0]["pixels"], train[0]["pixels"])
    assert torch.equal(val[0]["pixels"], val[0]["pixels"])


def test_colour_jitter_changes_colours_not_labels(train_dir, model, lut) -> None:
    plain = dataset(train_dir, model, lut, pixels_per_image=30, deterministic=True)[1]
    jittered = dataset(train_dir, model, lut, pixels_per_image=30, deterministic=True,
                       color_jitter=0.3)[1]
    assert torch.equal(plain["labels"], jittered["labels"])
    assert not torch.equal(plain["image"], jittered["image"])


def test_segmentations_of_another_mesh_are_rejected(train_dir, model) -> None:
    with pytest.raises(ValueError, match="dvc repro segment"):
        dataset(train_dir, model, np.zeros((2, 7), np.int64), pixels_per_image=4)


def test_datamodule_splits_and_batches(train_dir, model, lut) -> None:
    dm = DFFDataModule(train_dir, model, lut, pixels_per_image=20, batch_size=4, val_fraction=0.25)
    dm.setup("fit")
    assert (len(dm.train_set), len(dm.val_set), dm.image_size) == (18, 6, 64)
    batch = next(iter(dm.train_dataloader()))
    assert batch["image"].shape == (4, 64, 64, 3)
    assert batch["pixels"].shape == (4, 20) and batch["labels"].shape == (4, 3, 20)


def test_missing_data_points_at_the_pipeline_stage(tmp_path, model, lut) -> None:
    dm = DFFDataModule(tmp_path / "nowhere", model, lut)
    with pytest.raises(FileNotFoundError, match="dvc repro synthesize_dff"):
        dm.setup("fit")


ALL_EFFECTS = AugmentSettings(**dict.fromkeys(EFFECTS, 1.0))


def test_augmentation_changes_pixels_not_labels_and_stays_deterministic(train_dir, model, lut) -> None:
    plain = dataset(train_dir, model, lut, pixels_per_image=30, deterministic=True, color_jitter=0.2)
    augmented = dataset(train_dir, model, lut, pixels_per_image=30, deterministic=True, color_jitter=0.2,
                        augment=ALL_EFFECTS)
    a, b, again = plain[2], augmented[2], augmented[2]
    for key in ("pixels", "labels", "valid"):
        assert torch.equal(a[key], b[key]), key
    assert not torch.equal(a["image"], b["image"]) and b["image"].shape == a["image"].shape
    assert torch.equal(b["image"], again["image"])  # deterministic mode stays deterministic


def test_random_mode_augments_every_call_anew(train_dir, model, lut) -> None:
    ds = dataset(train_dir, model, lut, pixels_per_image=10, augment=ALL_EFFECTS)
    assert not torch.equal(ds[0]["image"], ds[0]["image"])


def test_datamodule_augments_the_training_set_only(train_dir, model, lut) -> None:
    dm = DFFDataModule(train_dir, model, lut, pixels_per_image=20, batch_size=4, val_fraction=0.25,
                       color_jitter=0.1, augment=ALL_EFFECTS)
    dm.setup("fit")
    assert dm.train_set.augment == ALL_EFFECTS and dm.val_set.augment is None
    assert dm.val_set.color_jitter == 0.0
    assert torch.equal(dm.val_set[0]["image"], dm.val_set[0]["image"])
