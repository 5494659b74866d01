"""``training.dff.train``: trains on a synthetic folder, exports a loadable
extractor, records an MLflow run, resumes an interrupted run, and names the missing input."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import mlflow
import numpy as np
import pytest
import pytorch_lightning as pl

from facealign.config import load_params
from facealign.models.dff_extractor import load_dff_extractor
from facegeom.mesh_segmentation import random_segmentations
from facegeom.morphable_model import MorphableModel
from training.dff import FINGERPRINT, _fingerprint, _resume_path, train

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg(tiny_model_path: Path, tiny_dataset: Path, tmp_path_factory) -> dict:
    """The fast_dev_run preset pointed at the tiny model, data and a throw-away MLflow store."""
    root = tmp_path_factory.mktemp("dff_train")
    cfg = load_params(REPO_ROOT / "params.yaml", preset="fast_dev_run")
    model = MorphableModel.load(tiny_model_path)
    segs = random_segmentations(model.mean, model.triangles, 2, 8, iterations=2, seed=0)
    segs.save(root / "segs.npz")
    shutil.copytree(tiny_dataset / "train", root / "dff_data" / "train")
    cfg["paths"].update(face_model=str(tiny_model_path), dff_data=str(root / "dff_data"))
    cfg["segment"]["output"] = str(root / "segs.npz")
    cfg["dff"]["output"] = str(root / "dff")
    cfg["dff"]["train"].update(checkpoint_dir=str(root / "ckpt"), batch_size=8, accelerator="cpu")
    cfg["dff"]["net"]["widths"] = [4, 8]
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    return cfg


class StartEpoch(pl.Callback):
    """Records the epoch training starts at and optionally fails at one epoch."""

    def __init__(self, fail_at: int | None = None) -> None:
        self.start, self.fail_at = None, fail_at

    def on_train_start(self, trainer, module) -> None:
        self.start = trainer.current_epoch

    def on_train_epoch_start(self, trainer, module) -> None:
        if trainer.current_epoch == self.fail_at:
            raise RuntimeError("simulated crash")


def test_trains_exports_a_working_extractor_and_logs_to_mlflow(cfg: dict) -> None:
    metrics = train(cfg)
    assert np.isfinite(metrics["train_loss"]) and np.isfinite(metrics["val_loss"])
    extractor = load_dff_extractor(cfg["dff"]["output"], device="cpu")
    assert (extractor.image_size, extractor.dim) == (64, 32)
    images = np.random.default_rng(0).integers(0, 255, (2, 64, 64, 3), dtype=np.uint8)
    desc = extractor.describe(images)
    assert desc.shape == (2, 32, 64, 64) and desc.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(desc, axis=1), 1.0, atol=1e-4)
    manifest = json.loads((Path(cfg["dff"]["output"]) / "dff.json").read_text())
    assert manifest["family"] == "dff" and manifest["n_segmentations"] == 2
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    run = mlflow.get_run(manifest["mlflow_run_id"])
    assert run.data.tags["family"] == "dff" and "train_loss" in run.data.metrics
    client = mlflow.MlflowClient()
    for shared in ("train_loss", "val_loss", "lr"):  # the names and steps (epochs) every family logs
        assert [m.step for m in client.get_metric_history(run.info.run_id, shared)] == [0]
    assert run.data.tags["mlflow.source.git.commit"] and run.inputs.dataset_inputs
    assert not (Path(cfg["dff"]["train"]["checkpoint_dir"]) / "last.ckpt").exists()


def test_an_interrupted_run_resumes_from_its_last_epoch(cfg: dict) -> None:
    cfg = copy.deepcopy(cfg)
    cfg["dff"]["train"]["max_epochs"] = 2
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, callbacks=[StartEpoch(fail_at=1)])
    assert (Path(cfg["dff"]["train"]["checkpoint_dir"]) / "last.ckpt").is_file()
    again = StartEpoch()
    train(cfg, callbacks=[again])
    assert again.start == 1


def test_a_checkpoint_made_with_other_settings_is_not_resumed(tmp_path: Path) -> None:
    (tmp_path / "last.ckpt").write_bytes(b"x")
    (tmp_path / FINGERPRINT).write_text(json.dumps({"fingerprint": "abc"}))
    assert _resume_path(tmp_path, "abc", enabled=True) == tmp_path / "last.ckpt"
    assert _resume_path(tmp_path, "other", enabled=True) is None
    assert _resume_path(tmp_path, "abc", enabled=False) is None


def test_the_fingerprint_follows_training_settings_not_the_time_budget(cfg: dict) -> None:
    data_dir = Path(cfg["paths"]["dff_data"]) / "train"
    changed, budget = copy.deepcopy(cfg), copy.deepcopy(cfg)
    changed["dff"]["loss"]["scale"] = 4.0
    budget["dff"]["train"]["max_minutes"] = 1.0
    assert _fingerprint(changed, data_dir) != _fingerprint(cfg, data_dir)
    assert _fingerprint(budget, data_dir) == _fingerprint(cfg, data_dir)


def test_missing_training_data_names_the_stage(cfg: dict, tmp_path: Path) -> None:
    cfg = copy.deepcopy(cfg)
    cfg["paths"]["dff_data"] = str(tmp_path / "none")
    with pytest.raises(FileNotFoundError, match="dvc repro synthesize_dff"):
        train(cfg)
