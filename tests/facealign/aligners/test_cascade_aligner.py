"""The cascade aligner: crops, iterates the stages, reads out landmarks, pose and mesh."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from facealign.aligners.cascade import CascadeAligner, load_cascade_aligner
from facealign.data import readers
from facealign.models.cascade_bundle import CascadeBundle, load_bundle, save_bundle
from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.param_stats import ZScore
from facealign.registry.loading import load_aligner
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params, to_crop

SIZE = 32
NET = {"image_stream": [{"type": "conv", "out": 4, "kernel": 5, "stride": 2, "pool": True},
                        {"type": "local", "out": 4, "kernel": 3, "pool": True}],
       "pncc_stream": [{"type": "conv", "out": 4, "kernel": 5, "stride": 2, "pool": True}],
       "feature_dim": 16}


@pytest.fixture(scope="module")
def faces(tiny_dataset):
    records = readers.read_folder(tiny_dataset / "test")[:4]
    boxes = np.stack([np.r_[r.landmarks68.min(0), r.landmarks68.max(0)] for r in records])
    return [readers.load_image(r.image_path) for r in records], boxes, records


def make_bundle(model: MorphableModel, boxes: np.ndarray, params: np.ndarray, stages: int = 2,
                zero: bool = False) -> CascadeBundle:
    from facealign.models.net_input import square_box

    crop = to_crop(params, square_box(boxes, 1.4, 0.1), SIZE)
    stats = ZScore.fit(np.concatenate([crop, crop * 1.1]))
    torch.manual_seed(0)
    weights = []
    for _ in range(stages):
        net = CascadeNet(NetConfig.from_section(NET), SIZE, n_params(model))
        if zero:
            torch.nn.init.zeros_(net.fc2.weight)
        weights.append(net.state_dict())
    delta = ZScore(np.zeros(n_params(model), np.float32), stats.std * 0.1)
    return CascadeBundle(model, NET, SIZE, 1.4, 0.1, stats, [delta] * stages, weights,
                         {"mlflow_run_id": "abc"})


@pytest.fixture(scope="module")
def saved(tmp_path_factory, tiny_model_path, faces):
    _, boxes, records = faces
    model = MorphableModel.load(tiny_model_path)
    params = np.stack([np.r_[readers.pose(r), r.shape_para, r.exp_para] for r in records])
    path = tmp_path_factory.mktemp("aligners") / "cascade"
    save_bundle(make_bundle(model, boxes, params), path)
    return path


def test_saved_directory_loads_through_the_family_registry(saved):
    manifest = json.loads((saved / "aligner.json").read_text())
    assert manifest["family"] == "cascade" and manifest["weights"] == ["stage0.pt", "stage1.pt"]
    state = torch.load(saved / "stage1.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert isinstance(load_aligner(str(saved)), CascadeAligner)
    assert load_aligner(str(saved / "stage0.pt")).stages == 2  # a checkpoint inside it
    assert load_bundle(saved).info["mlflow_run_id"] == "abc"


def test_alignment_has_landmarks_visibility_pose_and_parameters(saved, faces):
    images, boxes, _ = faces
    aligner = load_cascade_aligner(saved, device="cpu")
    out = aligner.align(images, boxes)
    assert len(out) == len(images)
    for a, box in zip(out, boxes, strict=True):
        assert a.landmarks.shape == (68, 2) and a.landmarks.dtype == np.float32
        assert a.visible.shape == (68,) and a.visible.dtype == bool
        assert np.isfinite([a.yaw, a.pitch, a.roll]).all()
        assert a.params.shape == (n_params(aligner.bundle.model),)
        assert a.yaw == pytest.approx(np.degrees(a.params[2]), abs=1e-3)
        np.testing.assert_array_equal(a.box, box.astype(np.float32))
        json.dumps(a.to_json())


def test_without_updates_the_cascade_returns_the_mean_placed_by_the_box(tiny_model_path, faces):
    images, boxes, records = faces
    model = MorphableModel.load(tiny_model_path)
    params = np.stack([np.r_[readers.pose(r), r.shape_para, r.exp_para] for r in records])
    aligner = CascadeAligner(make_bundle(model, boxes, params, zero=True), "cpu")
    _, history = aligner.iterate(images, boxes)
    assert len(history) == 3
    for later in history[1:]:
        np.testing.assert_allclose(later, history[0], atol=1e-4)
    lm = aligner.landmarks(history[0])
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = boxes[:, 2] - boxes[:, 0]
    assert np.all(np.linalg.norm(lm.mean(1) - centre, axis=1) < 0.25 * side)


def test_moving_image_and_box_together_moves_the_landmarks_by_the_same_pixels(saved, faces):
    images, boxes, _ = faces
    aligner = load_cascade_aligner(saved, device="cpu")
    shifted = np.pad(images[0], ((7, 0), (12, 0), (0, 0)))
    a = aligner.align([images[0]], boxes[:1])[0]
    b = aligner.align([shifted], boxes[:1] + [12, 7, 12, 7])[0]
    np.testing.assert_allclose(b.landmarks, a.landmarks + [12, 7], atol=1e-3)


def test_faces_in_a_batch_do_not_influence_each_other(saved, faces):
    images, boxes, _ = faces
    aligner = load_cascade_aligner(saved, device="cpu")
    together = aligner.align(images[:2], boxes[:2])
    alone = [aligner.align([images[i]], boxes[i : i + 1])[0] for i in range(2)]
    for t, a in zip(together, alone, strict=True):
        np.testing.assert_allclose(t.landmarks, a.landmarks, atol=1e-3)


def test_mesh_and_pncc_on_request(saved, faces):
    images, boxes, _ = faces
    aligner = load_cascade_aligner(saved, device="cpu")
    plain = aligner.align(images[:1], boxes[:1])[0]
    assert plain.mesh is None and plain.pncc is None
    full = aligner.align(images[:1], boxes[:1], return_mesh=True, return_pncc=True)[0]
    assert full.mesh.shape == (aligner.bundle.model.n_vertices, 3)
    np.testing.assert_allclose(full.mesh[aligner.bundle.model.landmarks, :2], full.landmarks, atol=1e-3)
    assert full.pncc.shape == images[0].shape and full.pncc.max() <= 1 and full.pncc.max() > 0


def test_not_an_aligner_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match="aligner.json"):
        load_cascade_aligner(tmp_path)


class _Exploit:
    """Pickles to a call of ``pathlib.Path(marker).write_text`` (what a crafted ``.pt`` holds)."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        import pathlib

        return (pathlib.Path.write_text, (pathlib.Path(self.marker), "pickle code ran"))


@pytest.mark.parametrize(("name", "forge"), [
    ("stage1.pt", lambda path, marker: torch.save({"w": _Exploit(marker)}, path)),
    ("stage0.pt", lambda path, marker: path.write_bytes(path.read_bytes()[:100])),  # truncated
    ("stats.npz", lambda path, marker: path.write_bytes(b"not an npz archive")),
    ("face_model.npz", lambda path, marker: np.savez(path, mean=np.array([{"x": 1}], dtype=object))),
])
def test_a_tampered_file_is_one_line_exit_2_naming_it_and_runs_nothing(saved, tmp_path, tiny_dataset,
                                                                        capsys, name, forge) -> None:
    import shutil

    from commands.cli import main

    copy = tmp_path / "cascade"
    shutil.copytree(saved, copy)
    marker = tmp_path / "pwned"
    forge(copy / name, marker)
    params = str(Path(__file__).resolve().parents[3] / "params.yaml")
    code = main(["evaluate", "--params", params, "--model", str(copy), "--data", str(tiny_dataset / "test"),
                 "--output", str(tmp_path / "m.json")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1, err
    assert str(copy / name) in err
    assert not marker.exists() and not (tmp_path / "m.json").exists()
