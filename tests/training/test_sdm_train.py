"""``training.sdm.train``: from a data folder to a saved, loadable aligner and an MLflow run."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest

from facealign.config import load_params
from facealign.registry.loading import load_aligner
from training.sdm import train

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cfg(tiny_model_path: Path, tiny_dataset: Path, tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sdm_train")
    cfg = load_params(REPO_ROOT / "params.yaml", preset="fast_dev_run")
    cfg["paths"].update(face_model=str(tiny_model_path), data=str(tiny_dataset))
    cfg["sdm"].update(n_landmarks=80, iterations=2, n_id=6, n_exp=4, train_images=0,
                      validation_images=6, inits_per_image=2, sift_image_size=64, evaluate_test=True)
    cfg["evaluate"]["overlays"] = 4
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{root / 'mlflow.db'}"
    return cfg


def test_sift_sdm_trains_saves_a_loadable_aligner_and_logs_its_evaluation(cfg, tmp_path):
    metrics = train(cfg, "sift", tmp_path / "sift_sdm", log=lambda _: None)
    assert metrics["train_nme_2"] < metrics["train_nme_0"]  # the cascade reduces the training error
    assert metrics["n_train_images"] == 18 and metrics["val_n_images"] == 6  # 24 = 18 + 6 held out
    assert 0 < metrics["test_nme_mean"] < 100 and metrics["test_n_images"] == 12
    manifest = json.loads((tmp_path / "sift_sdm" / "aligner.json").read_text())
    assert manifest["family"] == "sift_sdm" and len(manifest["landmark_vertices"]) == 80
    aligner = load_aligner(str(tmp_path / "sift_sdm"))
    out = aligner.align([np.zeros((64, 64, 3), np.uint8)], np.array([[10.0, 10.0, 50.0, 54.0]]))
    assert out[0].landmarks.shape == (68, 2)
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    run = mlflow.get_run(manifest["mlflow_run_id"])
    assert run.data.tags["family"] == "sift_sdm"
    assert {"val_nme", "val_nme_mean", "test_nme_mean", "test_nme_60_90"} <= set(run.data.metrics)
    assert run.data.metrics["val_nme"] == pytest.approx(metrics["val_nme_sample_mean"])
    client = mlflow.MlflowClient()
    curve = client.get_metric_history(run.info.run_id, "train_nme")  # percent, step = iteration
    assert [(m.step, round(m.value, 6)) for m in curve] == [(k, round(metrics[f"train_nme_{k}"], 6))
                                                           for k in range(3)]
    assert {d.dataset.name for d in run.inputs.dataset_inputs} == {str(cfg["paths"]["data"]) + "/train",
                                                                  str(cfg["paths"]["data"]) + "/test"}
    # registered from this run, into the smoke model of the fast_dev_run preset
    [version] = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert version.name == cfg["registry"]["name"] == "face-alignment-smoke"
    assert version.tags["family"] == "sift_sdm" and version.tags["registered_by"] == "training"
    assert client.search_model_versions("name = 'face-alignment'") == []
    for folder in ("validation", "evaluation"):
        logged = {a.path for a in client.list_artifacts(run.info.run_id, folder)}
        assert any(p.endswith("_ced.png") for p in logged)
        assert any(p.endswith("_overlays.png") for p in logged)


def test_dff_sdm_needs_a_trained_extractor(cfg, tmp_path):
    cfg = {**cfg, "sdm": {**cfg["sdm"], "dff_model": str(tmp_path / "no_dff")}}
    with pytest.raises(FileNotFoundError, match="no_dff"):
        train(cfg, "dff", tmp_path / "dff_sdm", log=lambda _: None)


def test_unknown_descriptors_and_parameters_are_refused(cfg, tmp_path):
    with pytest.raises(ValueError, match="unknown descriptor"):
        train(cfg, "hog", tmp_path / "x")
    with pytest.raises(ValueError, match="sdm: unknown parameter"):
        train({**cfg, "sdm": {**cfg["sdm"], "ridgee": 1.0}}, "sift", tmp_path / "x")
