"""The SDM aligner (DFF-SDM / SIFT-SDM) behind the common aligner interface."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facealign.aligners.mean_shape import MeanShapeAligner
from facealign.aligners.sdm import SDMAligner, load_sdm_aligner, save_sdm_aligner
from facealign.registry.loading import load_aligner
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.regression import Cascade, DescentMap
from facealign.sdm.settings import SDMSettings
from facegeom.morphable_model import MorphableModel

SETTINGS = SDMSettings(n_landmarks=80, iterations=2, n_id=4, n_exp=2, sift_image_size=48)


def _save(directory: Path, model: MorphableModel, scale: float = 0.0, seed: int = 0) -> Path:
    """A SIFT-SDM directory whose maps are random (``scale``) or zero."""
    ids = landmark_vertices(model, SETTINGS.n_landmarks)
    rng = np.random.default_rng(seed)
    n_out = 2 * len(ids) + 6
    maps = tuple(DescentMap((scale * rng.normal(size=(len(ids) * 128, n_out))).astype(np.float32),
                            np.zeros(n_out)) for _ in range(SETTINGS.iterations))
    return save_sdm_aligner(directory, model, ids, Cascade(maps), "sift", SETTINGS)


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


def test_an_untrained_cascade_returns_the_mean_shape_baseline(tmp_path, model):
    aligner = load_aligner(str(_save(tmp_path / "sift_sdm", model)))
    assert isinstance(aligner, SDMAligner) and aligner.name == "sift-sdm"
    images = [_photo(90, 120, 0), _photo(200, 150, 1)]
    boxes = np.array([[30.0, 20.0, 80.0, 75.0], [10.0, 40.0, 110.0, 150.0]])
    got = aligner.align(images, boxes)
    want = MeanShapeAligner(model).align(images, boxes)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.landmarks, b.landmarks, atol=1e-2)
        assert (a.yaw, a.pitch, a.roll) == (0.0, 0.0, 0.0)
        assert a.visible.shape == (68,) and a.visible.dtype == bool
        assert a.visible[17:].all()  # a frontal face shows its inner points (the jaw may hide)
        assert a.params.shape == (6 + model.n_id + model.n_exp,)
        json.dumps(a.to_json())


def test_results_are_in_image_pixels_wherever_the_face_is(tmp_path, model):
    aligner = load_sdm_aligner(_save(tmp_path / "sift_sdm", model, scale=1e-3))
    image = _photo(100, 100, 2)
    box = np.array([[20.0, 25.0, 70.0, 80.0]])
    padded = np.zeros((160, 190, 3), np.uint8)
    padded[40:140, 60:160] = image
    a = aligner.align([image], box)[0]
    b = aligner.align([padded], box + [60.0, 40.0, 60.0, 40.0])[0]
    assert np.abs(a.landmarks - aligner.align([image], box)[0].landmarks).max() == 0  # deterministic
    np.testing.assert_allclose(b.landmarks, a.landmarks + [60.0, 40.0], atol=1e-2)
    assert abs(a.yaw - b.yaw) < 1e-3
    assert not np.allclose(a.params[6:], 0)  # the random maps moved the shape


def test_parameters_reproduce_the_landmarks(tmp_path, model):
    from facegeom.parameters import project_params

    aligner = load_sdm_aligner(_save(tmp_path / "sift_sdm", model, scale=1e-3, seed=3))
    out = aligner.align([_photo(120, 120, 3)], np.array([[25.0, 30.0, 95.0, 100.0]]))[0]
    np.testing.assert_allclose(project_params(out.params, model)[model.landmarks, :2], out.landmarks,
                               atol=1e-2)
    assert out.yaw == pytest.approx(np.degrees(out.params[2]), abs=1e-3)


def test_timed_alignment_reports_every_stage(tmp_path, model):
    aligner = load_sdm_aligner(_save(tmp_path / "sift_sdm", model))
    out, times = aligner.align_timed([_photo(64, 64, 4)], np.array([[10.0, 10.0, 50.0, 54.0]]))
    assert len(out) == 1 and len(times["iterations_s"]) == SETTINGS.iterations
    assert all(t >= 0 for t in [times["extract_s"], times["crop_s"], *times["iterations_s"]])


def test_a_cascade_that_does_not_fit_the_descriptor_is_refused(tmp_path, model):
    directory = _save(tmp_path / "sift_sdm", model)
    Cascade((DescentMap(np.zeros((10, 4), np.float32), np.zeros(4)),)).save(directory / "cascade.npz")
    with pytest.raises(ValueError, match="cascade.npz"):
        load_sdm_aligner(directory)


def test_mismatched_boxes_are_an_error(tmp_path, model):
    aligner = load_sdm_aligner(_save(tmp_path / "sift_sdm", model))
    with pytest.raises(ValueError, match="2 images but 1 boxes"):
        aligner.align([_photo(10, 10, 0)] * 2, np.zeros((1, 4)))


def test_a_dff_sdm_directory_carries_its_network(tmp_path, model):
    import torch

    from facealign.aligners.sdm import DFFAligner
    from facealign.models.dff_extractor import save_dff_extractor
    from facealign.models.dff_unet import DFFUNet

    torch.manual_seed(0)
    settings = SDMSettings(n_landmarks=70, iterations=1, n_id=2, n_exp=1)
    ids = landmark_vertices(model, 70)
    net = DFFUNet(dim=8, widths=(4, 8))
    n_out = 2 * len(ids) + 6
    zero = DescentMap(np.zeros((len(ids) * 8, n_out), np.float32), np.zeros(n_out))
    directory = save_sdm_aligner(tmp_path / "dff_sdm", model, ids, Cascade((zero,)), "dff", settings)
    save_dff_extractor(net, directory / "extractor", image_size=32)
    aligner = load_aligner(str(directory))
    assert isinstance(aligner, DFFAligner) and aligner.name == "dff-sdm"
    assert aligner.descriptor.image_size == 32 and aligner.descriptor.dim == 8
    out, times = aligner.align_timed([_photo(50, 60, 5)], np.array([[10.0, 8.0, 40.0, 44.0]]))
    assert out[0].landmarks.shape == (68, 2) and times["extract_s"] > 0
