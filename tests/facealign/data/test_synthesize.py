"""The synthetic large-pose dataset: real layout, determinism, yaw coverage, atomic writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facealign.data import readers
from facealign.data.synthesize import SynthesisConfig, synthesize_split
from facegeom import parameters

CFG = SynthesisConfig(image_size=64, seed=7)


@pytest.fixture(scope="module")
def model_path(tiny_model_path: Path) -> Path:
    return tiny_model_path


@pytest.fixture(scope="module")
def test_split(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("data")
    return synthesize_split(model_path, CFG, "test", 9, out, workers=1, progress=False)


def test_samples_are_written_in_the_aflw2000_layout_and_read_back(test_split: Path) -> None:
    records = readers.read_folder(test_split)
    assert len(records) == 9
    for rec in records:
        image = readers.load_image(rec.image_path)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        assert rec.pt2d.shape == (21, 2)  # AFLW's 21 points, NaN where hidden
        assert np.all((rec.landmarks68 > -5) & (rec.landmarks68 < 69))


def test_the_stored_parameters_reproduce_the_stored_landmarks(model_path: Path, test_split: Path) -> None:
    from facegeom.morphable_model import MorphableModel

    model = MorphableModel.load(model_path)
    for rec in readers.read_folder(test_split):
        params = parameters.join(readers.pose(rec), rec.shape_para, rec.exp_para)
        projected = parameters.project_params(params, model)[model.landmarks, :2]
        assert np.abs(projected - rec.landmarks68).max() < 1e-3


def test_every_yaw_bin_of_the_test_split_is_populated(test_split: Path) -> None:
    yaw = np.abs([readers.yaw_degrees(r) for r in readers.read_folder(test_split)])
    counts = [np.sum(yaw <= 30), np.sum((yaw > 30) & (yaw <= 60)), np.sum(yaw > 60)]
    assert counts == [3, 3, 3]


def test_the_dataset_is_a_pure_function_of_the_seed_not_of_the_workers(
    model_path: Path, test_split: Path, tmp_path: Path
) -> None:
    again = synthesize_split(model_path, CFG, "test", 9, tmp_path, workers=2, progress=False)
    for a, b in zip(sorted(test_split.glob("*.jpg")), sorted(again.glob("*.jpg")), strict=True):
        assert a.read_bytes() == b.read_bytes()


def test_a_failed_run_leaves_no_finished_looking_split(model_path: Path, tmp_path: Path) -> None:
    bad = SynthesisConfig(image_size=64, face_scale=(0.5, 0.6), seed=1)
    with pytest.raises(Exception):  # noqa: B017 - any failure while rendering
        synthesize_split(tmp_path / "missing_model.npz", bad, "train", 4, tmp_path, workers=1,
                         progress=False)
    assert not (tmp_path / "train").exists()
