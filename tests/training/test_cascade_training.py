"""End to end on tiny data: train the cascade stage by stage, resume, track, evaluate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from commands.cli import main as cli
from facealign.config import load_params
from training.cascade import split_indices, train
from training.cascade_workdir import WorkDir

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
TINY_NET = {"feature_dim": 32, "batch_norm": True, "dropout": 0.0, "pool_kernel": 2, "pool_stride": 2,
            "image_stream": [{"type": "conv", "out": 8, "kernel": 5, "stride": 2, "pool": True},
                             {"type": "local", "out": 8, "kernel": 3, "pool": True}],
            "pncc_stream": [{"type": "conv", "out": 4, "kernel": 5, "stride": 2, "pool": True}]}


def tiny_config(tmp_path: Path, model_path: Path, data: Path, **cascade) -> dict:
    cfg = load_params(PARAMS)
    cfg["paths"].update(face_model=str(model_path), data=str(data), metrics=str(tmp_path / "metrics"))
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg["cascade"].update(stages=2, max_epochs=1, input_size=32, batch_size=6, num_workers=0, net=TINY_NET,
                          val_fraction=0.25, mlflow=False, loss_vertices=20, accelerator="cpu",
                          output=str(tmp_path / "cascade"), work_dir=str(tmp_path / "work"))
    cfg["cascade"].update(cascade)
    return cfg


class EpochCounter(pl.Callback):
    """Counts finished training epochs over all stages; raises when epoch ``stop_after`` + 1 starts."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.epochs, self.stop_after = 0, stop_after

    def on_train_epoch_start(self, trainer, pl_module):
        if self.stop_after is not None and self.epochs == self.stop_after:
            raise RuntimeError("simulated interruption")

    def on_train_epoch_end(self, trainer, pl_module):
        self.epochs += 1


def test_split_is_seeded_disjoint_and_complete():
    train_idx, val_idx = split_indices(20, 0.25, seed=3)
    assert len(val_idx) == 5 and not set(train_idx) & set(val_idx)
    assert sorted([*train_idx, *val_idx]) == list(range(20))
    np.testing.assert_array_equal(split_indices(20, 0.25, seed=3)[1], val_idx)


def test_workdir_starts_afresh_when_the_fingerprint_changes(tmp_path):
    work = WorkDir(tmp_path / "w", {"lr": 1})
    assert work.prepare() is False
    work.save_stage(0, {"w": torch.zeros(1)}, np.zeros((2, 3)), {"stage": 0})
    assert WorkDir(tmp_path / "w", {"lr": 1}).prepare() is True
    assert WorkDir(tmp_path / "w", {"lr": 1}).stage_done(0)
    other = WorkDir(tmp_path / "w", {"lr": 2})
    assert other.prepare() is False and not other.stage_done(0)


def test_interrupted_training_resumes_in_the_same_mlflow_run_then_evaluates(
        tmp_path, tiny_model_path, tiny_dataset, monkeypatch):
    import mlflow

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = tiny_config(tmp_path, tiny_model_path, tiny_dataset, max_epochs=[1, 2], mlflow=True,
                      test_time_flip=False)
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    mlflow.create_experiment(cfg["mlflow"]["experiment"], artifact_location=(tmp_path / "artifacts").as_uri())

    # stage 0 (1 epoch) finishes, stage 1 stops after its first of two epochs
    with pytest.raises(RuntimeError, match="simulated interruption"):
        train(cfg, callbacks=[EpochCounter(stop_after=2)])
    work = tmp_path / "work"
    assert (work / "stage0.json").is_file() and (work / "stage1" / "last.ckpt").is_file()
    assert not (tmp_path / "cascade").exists()

    counter = EpochCounter()
    metrics = train(cfg, callbacks=[counter])
    assert counter.epochs == 1  # stage 0 skipped, stage 1 resumed at its second epoch
    assert set(metrics) == {"val_nme", "val_nme_stage0", "val_nme_stage1", "val_nme_stage2"}
    assert all(np.isfinite(v) for v in metrics.values())

    manifest = json.loads((tmp_path / "cascade" / "aligner.json").read_text())
    assert manifest["family"] == "cascade" and manifest["stages"] == 2
    for name in ["stage0.pt", "stage1.pt", "stats.npz", "face_model.npz"]:
        assert (tmp_path / "cascade" / name).is_file()
    torch.load(tmp_path / "cascade" / "stage1.pt", weights_only=True)

    run = mlflow.get_run(manifest["mlflow_run_id"])
    assert run.data.params["cascade.stages"] == "2"
    assert run.data.params["cascade.loss"] == str(cfg["cascade"]["loss"])
    assert {"git_commit", "train_data_hash", "family"} <= set(run.data.tags)
    client = mlflow.tracking.MlflowClient()
    assert [m.step for m in client.get_metric_history(run.info.run_id, "val_nme")] == [0, 1, 2]
    assert len(client.get_metric_history(run.info.run_id, "train_loss")) == 3
    assert len(client.get_metric_history(run.info.run_id, "val_nme_after_stage")) == 3

    output = tmp_path / "metrics" / "cascade.json"
    args = ["evaluate-cascade", "--params", str(PARAMS), "--model", str(tmp_path / "cascade"),
            "--data", str(tiny_dataset / "test"), "--output", str(output),
            "--set", f"paths.face_model={tiny_model_path}",
            "--set", f"mlflow.tracking_uri={cfg['mlflow']['tracking_uri']}"]
    assert cli(args) == 0
    stages = json.loads((tmp_path / "metrics" / "cascade_stages.json").read_text())["stages"]
    assert [s["stage"] for s in stages] == [0, 1, 2]
    assert stages[-1]["nme_mean"] == pytest.approx(json.loads(output.read_text())["nme_mean"], abs=1e-3)
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {"evaluation/cascade.json", "evaluation/cascade_ced.png", "evaluation/cascade_overlays.png",
            "evaluation/cascade_stages.json"} <= artifacts

    # the same cascade with test-time flip averaging: same per-stage (direct) figures, its own answer
    (tmp_path / "cascade" / "aligner.json").write_text(json.dumps({**manifest, "test_time_flip": True}))
    flipped = tmp_path / "flip" / "cascade.json"
    assert cli([*args[:-6], "--output", str(flipped), *args[-4:]]) == 0
    flip_stages = json.loads((tmp_path / "flip" / "cascade_stages.json").read_text())["stages"]
    assert [s["nme_mean"] for s in flip_stages] == [s["nme_mean"] for s in stages]
    assert json.loads(flipped.read_text())["nme_mean"] != json.loads(output.read_text())["nme_mean"]


def test_training_reduces_the_error_of_the_mean_start(tmp_path, tiny_model_path, tiny_dataset):
    cfg = tiny_config(tmp_path, tiny_model_path, tiny_dataset, stages=1, max_epochs=12, lr=3e-3,
                      val_fraction=0.0, box_jitter=0.0, loss="vdc", schedule="constant")
    metrics = train(cfg)
    assert metrics["val_nme_stage1"] < 0.8 * metrics["val_nme_stage0"]


def test_missing_data_points_to_dvc(tmp_path, tiny_model_path):
    cfg = tiny_config(tmp_path, tiny_model_path, tmp_path / "no_data")
    with pytest.raises(FileNotFoundError, match="dvc repro synthesize.*dvc pull"):
        train(cfg)
