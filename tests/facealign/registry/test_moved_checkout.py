"""A copied checkout (``cp -a``) of a project that ran keeps its MLflow store: its registry
versions load after the original is deleted, and new runs and versions land in the copy's
own ``mlruns/`` (the default store, ``sqlite:///mlflow.db``, keeps its artefacts in
``facealign-store:`` locations relative to the database)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow_store import empty_store
from tiny_faces import mean_shape_dir

# runs in the project folder with the default (relative) tracking URI, as a stage would
IN_PROJECT = """
import json, sys
import mlflow
from facealign.registry import log_and_register
from facealign.registry.pyfunc import load_aligner_from_uri
cfg = {"preset": "default", "paths": {"data": "data/synthetic"},
       "mlflow": {"tracking_uri": "sqlite:///mlflow.db", "experiment": "facealign"},
       "registry": {"name": "face-alignment"}}
metrics = {"nme_mean": 5.0, "nme_0_30": 4.0, "nme_30_60": 5.0, "nme_60_90": 6.0}
out = {}
if len(sys.argv) > 2:
    mlflow.set_tracking_uri(cfg["mlflow"]["tracking_uri"])
    out["loaded"] = type(load_aligner_from_uri(sys.argv[2])).__name__
out["version"] = log_and_register(sys.argv[1], metrics, cfg, test_data_hash="t" * 36)
client = mlflow.MlflowClient()
mv = client.get_model_version("face-alignment", out["version"])
out["model_location"] = client.get_logged_model(mv.source.split("/")[-1]).artifact_location
client.log_text(mv.run_id, "where am I", "note.txt")
out["run_artifacts"] = client.get_run(mv.run_id).info.artifact_uri
print("RESULT " + json.dumps(out))
"""


def _in_project(project: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"] = "false"
    done = subprocess.run([sys.executable, "-c", IN_PROJECT, *args], cwd=project, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_a_copied_checkout_reads_and_writes_its_own_store(tmp_path: Path,
                                                          tmp_path_factory: pytest.TempPathFactory) -> None:
    original, copy = tmp_path / "facealign", tmp_path / "facealign-copy"
    empty_store(original / "mlflow.db", tmp_path_factory.getbasetemp())
    mean_shape_dir(original / "models" / "first", 0.0, seed=1)
    first = _in_project(original, "models/first")
    assert first["model_location"].startswith("facealign-store:/mlruns/facealign/")
    assert first["run_artifacts"].startswith("facealign-store:/mlruns/facealign/")
    assert (original / "mlruns" / "facealign").is_dir()

    subprocess.run(["cp", "-a", str(original), str(copy)], check=True)
    shutil.rmtree(original)
    mean_shape_dir(copy / "models" / "second", 0.03, seed=2)
    second = _in_project(copy, "models/second", f"models:/face-alignment/{first['version']}")

    assert second["loaded"] == "MeanShapeAligner"  # the copy's v1 loads with the original gone
    assert int(second["version"]) == int(first["version"]) + 1
    model_dir = second["model_location"].removeprefix("facealign-store:/")
    assert (copy / model_dir / "MLmodel").is_file()  # the new version's files are the copy's
    assert (copy / second["run_artifacts"].removeprefix("facealign-store:/") / "note.txt").is_file()
    assert not original.exists()  # nothing wrote into the original's place
