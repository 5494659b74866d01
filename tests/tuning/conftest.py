"""Fixtures of the sweep tests: one local Ray for the package, a tiny pipeline config."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from facealign.config import load_params

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]


@pytest.fixture(scope="package")
def ray_local() -> Iterator[None]:
    """A local Ray with 2 CPUs and 1 logical GPU, shared by every sweep test.

    Its workers import the stand-in training entry from this folder.
    """
    import ray

    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, logging_level="WARNING",
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


@pytest.fixture
def sweep_cfg(tmp_path: Path, tiny_model_path: Path, tiny_dataset: Path,
              monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``params.yaml`` pointed at the tiny model and data, MLflow in a sqlite file of its own."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    cfg = load_params(REPO_ROOT / "params.yaml")
    cfg["paths"].update(face_model=str(tiny_model_path), data=str(tiny_dataset))
    cfg["mlflow"]["tracking_uri"] = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg["evaluate"]["overlays"] = 0
    records = tmp_path / "records"
    records.mkdir()
    cfg["standin"] = {"record_dir": str(records), "epoch_sleep": 0.0}
    return cfg


@pytest.fixture
def make_settings(sweep_cfg: dict, tmp_path: Path) -> Callable[..., Any]:
    """``make_settings(**flags)``: sweep settings with storage and results under ``tmp_path``."""
    return lambda **flags: settings_for(sweep_cfg, tmp_path, **flags)


def settings_for(cfg: dict, tmp_path: Path, **flags: Any) -> Any:
    """Sweep settings for a test: storage and results under ``tmp_path``, cascade, one stage."""
    from tuning.settings import resolve

    section = dict(cfg.get("tune") or {})
    section["train_overrides"] = {"cascade": {"cascade.stages": 1}}
    base = {"model": "cascade", "num_samples": 2, "max_epochs": 3, "scheduler": "asha", "seed": 0,
            "storage_path": str(tmp_path / "storage"), "results_dir": str(tmp_path / "results"),
            "experiment": "test-sweep", "cpus_per_trial": 1, "gpus_per_trial": 0, "workers_per_trial": 1,
            "max_failures": 1, "address": None}
    base.update(flags)
    return resolve(section, base)
