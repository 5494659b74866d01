"""ONNX export: the exported aligners run on ONNX Runtime behind the same interface, and
their landmarks are the PyTorch aligners' within 0.05 px on synthetic faces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tiny_faces import mean_shape_dir
from tiny_networks import cascade_bundle, dff_sdm_directory

from commands.cli import main
from facealign.aligners.cascade import CascadeAligner
from facealign.aligners.onnx_aligners import export_aligner
from facealign.aligners.sdm import SDMAligner
from facealign.data import readers
from facealign.models.cascade_bundle import save_bundle
from facealign.registry.loading import load_aligner
from facegeom.morphable_model import MorphableModel

PARITY_PX = 0.05


@pytest.fixture(scope="module")
def faces(tiny_dataset):
    records = readers.read_folder(tiny_dataset / "test")[:6]
    boxes = np.stack([np.r_[r.landmarks68.min(0), r.landmarks68.max(0)] for r in records])
    return [readers.load_image(r.image_path) for r in records], boxes, records


@pytest.fixture(scope="module")
def cascade_dirs(tmp_path_factory, tiny_model_path, faces):
    _, boxes, records = faces
    model = MorphableModel.load(tiny_model_path)
    params = np.stack([np.r_[readers.pose(r), r.shape_para, r.exp_para] for r in records])
    root = tmp_path_factory.mktemp("onnx_cascade")
    source = save_bundle(cascade_bundle(model, boxes, params), root / "cascade")
    return source, export_aligner(source, root / "cascade_onnx")


@pytest.fixture(scope="module")
def dff_dirs(tmp_path_factory, tiny_model_path):
    root = tmp_path_factory.mktemp("onnx_dff")
    source = dff_sdm_directory(root / "dff_sdm", MorphableModel.load(tiny_model_path))
    return source, export_aligner(source, root / "dff_sdm_onnx")


def landmarks(aligner, images, boxes) -> np.ndarray:
    return np.stack([a.landmarks for a in aligner.align(images, boxes)])


def test_exported_cascade_is_an_aligner_directory_of_onnx_stage_models(cascade_dirs):
    source, exported = cascade_dirs
    manifest = json.loads((exported / "aligner.json").read_text())
    assert manifest["family"] == "cascade_onnx" and manifest["runtime"] == "onnxruntime"
    assert manifest["weights"] == ["stage0.onnx", "stage1.onnx", "stage2.onnx"]
    assert all((exported / name).is_file() for name in manifest["weights"])
    assert not list(exported.glob("*.pt"))  # nothing of torch travels
    aligner = load_aligner(str(exported))
    assert isinstance(aligner, CascadeAligner) and aligner.device.startswith("onnxruntime:")
    assert aligner.stages == 3


def test_cascade_on_onnx_runtime_matches_pytorch_within_five_hundredths_of_a_pixel(cascade_dirs, faces):
    images, boxes, _ = faces
    source, exported = cascade_dirs
    torch_aligner, onnx_aligner = load_aligner(str(source)), load_aligner(str(exported))
    want = landmarks(torch_aligner, images, boxes)
    start = torch_aligner.landmarks(torch_aligner.iterate(images, boxes)[1][0])
    assert np.abs(want - start).max() > 1.0  # the networks move the face: parity means something
    got = landmarks(onnx_aligner, images, boxes)
    assert np.abs(got - want).max() <= PARITY_PX
    one_by_one = np.concatenate([landmarks(onnx_aligner, images[i : i + 1], boxes[i : i + 1])
                                 for i in range(len(images))])
    assert np.abs(one_by_one - got).max() <= 1e-3  # the batch axis is dynamic


def test_dff_sdm_on_onnx_runtime_matches_pytorch_within_five_hundredths_of_a_pixel(dff_dirs, faces):
    images, boxes, _ = faces
    source, exported = dff_dirs
    manifest = json.loads((exported / "aligner.json").read_text())
    assert manifest["family"] == "dff_sdm_onnx" and (exported / "extractor" / "dff.onnx").is_file()
    assert not (exported / "extractor" / "weights.pt").exists()
    torch_aligner, onnx_aligner = load_aligner(str(source)), load_aligner(str(exported))
    assert isinstance(onnx_aligner, SDMAligner)
    assert onnx_aligner.device.startswith("onnxruntime:") and torch_aligner.device == "cpu"
    want = landmarks(torch_aligner, images, boxes)
    got = landmarks(onnx_aligner, images, boxes)
    assert np.abs(got - want).max() <= PARITY_PX
    maps = onnx_aligner.descriptor.extractor.describe(np.stack([images[0][:32, :32]] * 3))
    assert maps.shape == (3, 8, 32, 32)
    np.testing.assert_allclose(np.linalg.norm(maps, axis=1), 1.0, atol=1e-4)


def test_export_command_writes_a_directory_that_predict_loads(cascade_dirs, tmp_path, faces):
    source, _ = cascade_dirs
    out = tmp_path / "exported"
    assert main(["export", "--model", str(source), "--format", "onnx", "--output", str(out)]) == 0
    images, boxes, _ = faces
    np.testing.assert_allclose(landmarks(load_aligner(str(out)), images[:2], boxes[:2]),
                               landmarks(load_aligner(str(source)), images[:2], boxes[:2]), atol=PARITY_PX)


def test_families_without_networks_and_unsafe_outputs_are_refused(tmp_path, cascade_dirs, capsys):
    source, _ = cascade_dirs
    mean_dir = mean_shape_dir(tmp_path / "mean")
    with pytest.raises(ValueError, match="no network"):
        export_aligner(mean_dir, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["export", "--model", "mean-shape", "--output", str(tmp_path / "out")]) == 2
    assert "mean-shape" in capsys.readouterr().err
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not an aligner directory"):
        export_aligner(source, busy)
    assert (busy / "notes.txt").read_text() == "keep me"
    assert main(["export", "--model", str(tmp_path / "nowhere"), "--output", str(tmp_path / "o")]) == 2
