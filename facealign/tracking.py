"""MLflow tracking shared by every training and evaluation step.

The tracking URI comes from ``MLFLOW_TRACKING_URI`` when set, else from
``mlflow.tracking_uri`` in ``params.yaml`` (a sqlite database in the project by
default).  Every run records the flattened parameters, the git commit and the DVC
hash of the data it read, so runs compare side by side in the MLflow UI.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from facealign.config import flatten


def tracking_uri(cfg: dict) -> str:
    """``MLFLOW_TRACKING_URI`` if set, else the configured URI."""
    return os.environ.get("MLFLOW_TRACKING_URI") or cfg["mlflow"]["tracking_uri"]


def git_commit() -> str:
    """The checkout's HEAD commit, or ``"unknown"`` outside git."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def data_hash(path: str | Path, lock_file: str | Path = "dvc.lock") -> str:
    """The DVC hash of a pipeline output (from ``dvc.lock``), else an md5 of its files.

    The fallback hashes relative file names and contents, so it is stable across clones.
    """
    path = Path(path)
    lock = Path(lock_file)
    if lock.is_file():
        stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
        for stage in stages.values():
            for out in stage.get("outs", []):
                if Path(out.get("path", "")) == path and "md5" in out:
                    return str(out["md5"])
    digest = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest() + ".dir"


def ensure_experiment(cfg: dict, name: str | None = None) -> str:
    """Point MLflow at the tracking URI and create the experiment if needed; returns its id."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri(cfg))
    name = name or cfg["mlflow"]["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is None:
        return mlflow.create_experiment(name)
    return experiment.experiment_id


@contextmanager
def training_run(
    cfg: dict, run_name: str, family: str, data_dir: str | Path | None = None,
    tags: dict[str, str] | None = None, nested: bool = False,
) -> Iterator[Any]:
    """An MLflow run with the standard parameters and tags; yields the active run."""
    import mlflow

    experiment_id = ensure_experiment(cfg)
    all_tags = {"family": family, "git_commit": git_commit(), "preset": str(cfg.get("preset"))}
    if data_dir is not None and Path(data_dir).exists():
        all_tags["train_data_hash"] = data_hash(data_dir)
    all_tags.update(tags or {})
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested,
                          tags=all_tags) as run:
        params = {k: str(v)[:500] for k, v in flatten(cfg).items()}
        items = list(params.items())
        for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(items[start : start + 100]))
        yield run
