"""``facealign.tracking``: what a training run records (git commit, description, its data as
an MLflow dataset input with the DVC hash, system metrics), strict ``mlflow`` settings, and
runs of killed processes closed by the next run of the same command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from mlflow_store import empty_store

from facealign.config import ConfigError
from facealign.stale_runs import COMMAND_TAG, PID_TAG, REASON_TAG
from facealign.tracking import (
    EXPERIMENT_DESCRIPTION,
    GIT_COMMIT_TAG,
    NOTE_TAG,
    TrackingSettings,
    dataset_digest,
    git_commit,
    system_metrics_enabled,
    training_run,
)

DVC_MD5 = "0123456789abcdef0123456789abcdef.dir"


def _cfg(root: Path, system_metrics: bool = False) -> dict:
    return {"preset": "default", "paths": {"data": "data/synthetic"},
            "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "facealign",
                       "system_metrics": system_metrics}}


@pytest.fixture
def project(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
            monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project folder (the working directory) with an empty ``mlflow.db`` and a training
    folder inside the DVC output ``data/synthetic`` recorded in ``dvc.lock``."""
    empty_store(tmp_path / "mlflow.db", tmp_path_factory.getbasetemp())
    train = tmp_path / "data" / "synthetic" / "train"
    train.mkdir(parents=True)
    (train / "image00001.jpg").write_bytes(b"jpg")
    lock = {"schema": "2.0", "stages": {"synthesize": {"cmd": "facealign synthesize", "outs": [
        {"path": "data/synthetic", "hash": "md5", "md5": DVC_MD5, "size": 3, "nfiles": 1}]}}}
    (tmp_path / "dvc.lock").write_text(yaml.safe_dump(lock))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


def test_the_dataset_digest_is_the_dvc_hash_of_the_output_holding_the_folder(project: Path) -> None:
    assert dataset_digest("data/synthetic/train") == (DVC_MD5, "data/synthetic")
    assert dataset_digest("data/synthetic") == (DVC_MD5, "data/synthetic")
    outside, out = dataset_digest(project / "data")  # not a DVC output: the files' md5
    assert out is None and len(outside) == 36 and outside != DVC_MD5


def test_a_training_run_records_commit_description_and_its_data_as_a_dataset_input(project: Path) -> None:
    from mlflow import MlflowClient

    cfg = _cfg(project)
    with training_run(cfg, "fit_tiny", "tiny", data_dir="data/synthetic/train",
                      description="Tiny family") as active:
        run_id = active.info.run_id
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    assert run.data.tags[GIT_COMMIT_TAG] == git_commit() == run.data.tags["git_commit"]
    assert run.data.tags[NOTE_TAG].startswith("Tiny family on data/synthetic/train (preset default")
    assert run.data.tags[COMMAND_TAG] == "fit_tiny" and run.data.tags[PID_TAG] == str(os.getpid())
    assert run.data.params["paths.data"] == "data/synthetic"
    [entry] = run.inputs.dataset_inputs
    assert entry.dataset.digest == DVC_MD5 and entry.dataset.name == "data/synthetic/train"
    assert json.loads(entry.dataset.source) == {"uri": "data/synthetic/train"}  # relative: moves along
    tags = {t.key: t.value for t in entry.tags}
    assert tags == {"mlflow.data.context": "training", "dvc_out": "data/synthetic"}
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.tags[NOTE_TAG] == EXPERIMENT_DESCRIPTION
    assert experiment.artifact_location == (project / "mlruns" / "facealign").as_uri()  # beside the db


def test_system_metrics_are_sampled_when_psutil_is_there(project: Path, monkeypatch) -> None:
    from mlflow import MlflowClient

    pytest.importorskip("psutil")
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    cfg = _cfg(project, system_metrics=True)
    with training_run(cfg, "fit_tiny", "tiny") as active:
        time.sleep(2.0)
    metrics = MlflowClient(cfg["mlflow"]["tracking_uri"]).get_run(active.info.run_id).data.metrics
    assert any(k.startswith("system/cpu_utilization") for k in metrics), sorted(metrics)
    assert any(k.startswith("system/system_memory_usage") for k in metrics)


def test_system_metrics_are_off_without_psutil_or_when_switched_off(monkeypatch) -> None:
    assert not system_metrics_enabled(TrackingSettings(system_metrics=False))
    monkeypatch.setitem(sys.modules, "psutil", None)  # `import psutil` raises ImportError
    assert not system_metrics_enabled(TrackingSettings(system_metrics=True))


def test_the_mlflow_section_is_read_strictly() -> None:
    with pytest.raises(ConfigError, match="mlflow: unknown parameter 'system_metric'"):
        TrackingSettings.from_section({"system_metric": True})
    with pytest.raises(ValueError, match="mlflow.system_metrics: 'yes'"):
        TrackingSettings.from_section({"system_metrics": "yes"})


HOLD_A_RUN = """
import sys, time
from facealign.tracking import training_run
with training_run({cfg!r}, sys.argv[1], "tiny") as run:
    print(run.info.run_id, flush=True)
    time.sleep(600)
"""


def _hold(cfg: dict, command: str, cwd: Path) -> tuple[subprocess.Popen, str]:
    """A process that opens a run of ``command`` and keeps it open; (process, run id)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLD_A_RUN.format(cfg=cfg), command], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc, proc.stdout.readline().strip()


def test_a_run_whose_process_was_killed_is_closed_by_the_next_run_of_the_command(project: Path) -> None:
    from mlflow import MlflowClient

    cfg = _cfg(project)
    client = MlflowClient(cfg["mlflow"]["tracking_uri"])
    killed, alive = _hold(cfg, "fit_tiny", project), _hold(cfg, "fit_tiny", project)
    other, _ = _hold(cfg, "fit_other", project)
    try:
        victim = killed[1]
        os.kill(killed[0].pid, signal.SIGKILL)
        killed[0].wait()
        other.send_signal(signal.SIGKILL)
        other.wait()
        assert client.get_run(victim).info.status == "RUNNING"  # what SIGKILL leaves behind

        with training_run(cfg, "fit_tiny", "tiny") as active:
            closer = active.info.run_id
        dead = client.get_run(victim)
        assert dead.info.status == "KILLED"
        reason = dead.data.tags[REASON_TAG]
        assert f"process {killed[0].pid}" in reason and closer in reason and "'fit_tiny'" in reason
        assert client.get_run(alive[1]).info.status == "RUNNING"  # its process still runs
        others = client.search_runs([dead.info.experiment_id], "tags.`facealign.command` = 'fit_other'")
        assert [r.info.status for r in others] == ["RUNNING"]  # another command's run: its own next run
    finally:
        for proc in (killed[0], alive[0], other):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
