"""MLflow tracking shared by every training and evaluation step.

The tracking URI comes from ``MLFLOW_TRACKING_URI`` when set, else from
``mlflow.tracking_uri`` in ``params.yaml`` (a sqlite database in the project by default,
whose experiments keep their artefacts in ``facealign-store:`` locations that move with the
checkout: :mod:`facealign.artifact_store`).  Every training run records the flattened
parameters, the git commit (``mlflow.source.git.commit``), its training data as an MLflow
dataset input (the DVC hash as digest), a description, system metrics when ``psutil`` is
installed, and the process that owns it, so that the next run of the same command closes
a run whose process was killed (:mod:`facealign.stale_runs`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from facealign.config import flatten, section_fields

GIT_COMMIT_TAG = "mlflow.source.git.commit"  # MLflow's standard tag (the UI links it)
NOTE_TAG = "mlflow.note.content"  # MLflow's description of an experiment or run
EXPERIMENT_DESCRIPTION = (
    "Training runs of the facealign pipeline (cascade CNN, DFF, DFF-SDM and SIFT-SDM), one per "
    "training stage of `dvc repro` / `facealign train-*`. Each registry version of the aligners "
    "is registered from the run that trained it; the runs' dataset inputs carry the DVC hash of "
    "the data they read. Compare runs on val_nme, test_nme_mean (percent), train_loss, val_loss, lr.")


@dataclass(frozen=True)
class TrackingSettings:
    """The ``mlflow`` section of ``params.yaml``."""

    tracking_uri: str = "sqlite:///mlflow.db"  # MLFLOW_TRACKING_URI overrides it
    experiment: str = "facealign"
    system_metrics: bool = True  # CPU / memory / GPU curves of training runs (needs psutil)

    @classmethod
    def from_section(cls, section: dict | None) -> TrackingSettings:
        settings = cls(**section_fields(cls, section, "mlflow"))
        if not isinstance(settings.system_metrics, bool):
            raise ValueError(f"mlflow.system_metrics: {settings.system_metrics!r} is not true or false")
        return settings


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


def _lock_outs(lock_file: str | Path) -> dict[Path, str]:
    """``{out path: md5}`` of every stage output recorded in ``dvc.lock`` (empty without one)."""
    lock = Path(lock_file)
    if not lock.is_file():
        return {}
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return {Path(out["path"]): str(out["md5"]) for stage in stages.values()
            for out in stage.get("outs", []) if "path" in out and "md5" in out}


def data_hash(path: str | Path, lock_file: str | Path = "dvc.lock") -> str:
    """The DVC hash of a pipeline output (from ``dvc.lock``), else an md5 of its files.

    The fallback hashes relative file names and contents, so it is stable across clones.
    """
    path = Path(path)
    recorded = _lock_outs(lock_file).get(path)
    if recorded is not None:
        return recorded
    digest = hashlib.md5()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest() + ".dir"


def dataset_digest(path: str | Path, lock_file: str | Path = "dvc.lock",
                   files_hash: str | None = None) -> tuple[str, str | None]:
    """(digest, DVC output) of the data in ``path``: the DVC hash of the ``dvc.lock`` output
    that is ``path`` or holds it (``data/synthetic`` for ``data/synthetic/train``), else
    :func:`data_hash`'s md5 of the files (``files_hash`` when already computed) and None.
    Both are 36 characters, MLflow's limit for a dataset digest."""
    path = Path(path)
    for out, md5 in _lock_outs(lock_file).items():
        if out == path or out in path.parents:
            return md5, str(out)
    return files_hash or data_hash(path, lock_file), None


def log_dataset(path: str | Path, context: str, files_hash: str | None = None) -> None:
    """Log the folder ``path`` as an MLflow dataset input of the active run: source = the path
    as given (relative paths stay relative, so the record moves with the checkout), digest =
    its DVC hash (:func:`dataset_digest`), input tag ``mlflow.data.context`` = ``context``
    (``training``, ``evaluation``) and ``dvc_out`` = the DVC output holding it."""
    import mlflow
    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.meta_dataset import MetaDataset

    digest, out = dataset_digest(path, files_hash=files_hash)
    with warnings.catch_warnings():  # MLflow registers its local-file source class twice and says so
        warnings.filterwarnings("ignore", message="The specified dataset source can be interpreted")
        source = resolve_dataset_source(str(path))
    dataset = MetaDataset(source, name=str(path), digest=digest)
    mlflow.log_input(dataset, context=context, tags={"dvc_out": out} if out else None)


def ensure_experiment(cfg: dict, name: str | None = None, description: str = EXPERIMENT_DESCRIPTION) -> str:
    """Point MLflow at the tracking URI and create the experiment if needed; returns its id.

    In the project's default store (:func:`facealign.artifact_store.is_project_store`) a new
    experiment keeps its artefacts at ``facealign-store:/mlruns/<name>``, which resolves
    beside the database wherever the checkout lives; beside another sqlite database, in its
    ``mlruns/`` (never the working directory's).  An experiment without a description gets
    ``description``.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    from facealign import artifact_store

    uri = tracking_uri(cfg)
    mlflow.set_tracking_uri(uri)
    name = name or cfg["mlflow"]["experiment"]
    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        if NOTE_TAG not in experiment.tags:  # a store from before descriptions
            mlflow.MlflowClient().set_experiment_tag(experiment.experiment_id, NOTE_TAG, description)
        return experiment.experiment_id
    location = artifact_store.experiment_location(uri, name)
    if artifact_store.is_project_store(uri):
        from mlflow.store.artifact.artifact_repository_registry import get_registered_artifact_repositories

        if artifact_store.SCHEME not in get_registered_artifact_repositories():
            raise RuntimeError(f"MLflow does not know the {artifact_store.SCHEME}: artefact scheme; "
                               "reinstall the project (`make setup` or `pip install -e .`)")
    try:
        return mlflow.create_experiment(name, artifact_location=location, tags={NOTE_TAG: description})
    except MlflowException:  # another process created it meanwhile
        experiment = mlflow.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


def system_metrics_enabled(settings: TrackingSettings) -> bool:
    """``mlflow.system_metrics`` and ``psutil`` importable (MLflow's sampler needs it)."""
    if not settings.system_metrics:
        return False
    try:
        import psutil  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def training_run(
    cfg: dict, run_name: str, family: str, data_dir: str | Path | None = None,
    tags: dict[str, str] | None = None, nested: bool = False, description: str | None = None,
) -> Iterator[Any]:
    """An MLflow run with the standard parameters and tags; yields the active run.

    Runs of the same ``run_name`` (the command) left RUNNING by a killed process are closed
    (:func:`facealign.stale_runs.close_stale_runs`).  ``data_dir`` is logged as the
    run's ``training`` dataset input and its digest (:func:`dataset_digest`: the DVC hash of
    the output holding it) as tag ``train_data_hash``.
    """
    import mlflow

    from facealign import stale_runs

    settings = TrackingSettings.from_section(cfg.get("mlflow"))
    experiment_id = ensure_experiment(cfg)
    commit = git_commit()
    all_tags = {"family": family, "git_commit": commit, GIT_COMMIT_TAG: commit,
                "preset": str(cfg.get("preset")), **stale_runs.owner_tags(run_name)}
    digest = None
    if data_dir is not None and Path(data_dir).exists():
        digest = all_tags["train_data_hash"] = dataset_digest(data_dir)[0]
    all_tags.update(tags or {})
    text = description or f"{family} training"
    text += f" on {data_dir}" if data_dir is not None else ""
    text += f" (preset {cfg.get('preset')}, commit {commit[:10]})"
    with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, nested=nested, tags=all_tags,
                          description=text, log_system_metrics=system_metrics_enabled(settings)) as run:
        stale_runs.close_stale_runs(mlflow.MlflowClient(), experiment_id, run_name,
                                    closed_by=f"run {run.info.run_id}")
        params = {k: str(v)[:500] for k, v in flatten(cfg).items()}
        items = list(params.items())
        for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
            mlflow.log_params(dict(items[start : start + 100]))
        if digest is not None:
            log_dataset(data_dir, "training", files_hash=digest)  # the digest computed above
        yield run
