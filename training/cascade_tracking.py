"""MLflow for the cascade: one run per training (resumed runs continue it), per-epoch curves.

Per epoch (step = epoch counted over all stages; :mod:`training.mlflow_epochs`):
``train_loss``, ``val_loss``, ``val_nme`` (percent), ``lr``, and the same with a
``stage<k>/`` prefix.  Per stage (step = k, 0 = the initialisation): ``val_nme_after_stage``;
at the end ``val_nme`` of the whole cascade.  Only global rank 0 talks to MLflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from training.cascade_workdir import WorkDir
from training.mlflow_epochs import MlflowEpochLogger

__all__ = ["MlflowEpochLogger", "cascade_run", "log_final_nme", "log_stage_metric"]
RUN_NAME = "cascade"
DESCRIPTION = "Cascade CNN (3DDFA-style): stage k regresses p* - p_k from the crop and PNCC(p_k)"


def log_stage_metric(run_id: str | None, stage: int, val_nme: float) -> None:
    """``val_nme_after_stage`` at step ``stage`` (0 = initialisation, k = after Net_{k-1})."""
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().log_metric(run_id, "val_nme_after_stage", float(val_nme), step=stage)


def log_final_nme(run_id: str | None, val_nme: float, step: int) -> None:
    """``val_nme`` of the finished cascade (all stages, percent) at ``step`` = the epochs run, so
    the run's latest ``val_nme`` (what MLflow's Compare view shows) is the saved model's."""
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().log_metric(run_id, "val_nme", float(val_nme), step=step)


@contextmanager
def cascade_run(cfg: dict, work: WorkDir, data_dir: str | Path, enabled: bool) -> Iterator[str | None]:
    """The training's MLflow run id (None when disabled or not rank 0).

    A resumed training continues its earlier run (now owned by this process); a new one
    opens a run through :func:`facealign.tracking.training_run` (parameters, git commit,
    dataset input, description).  Either way, other cascade runs left RUNNING by a killed
    process are closed (:mod:`facealign.stale_runs`).
    """
    if not enabled or not work.writer:
        yield None
        return
    import mlflow

    from facealign import stale_runs
    from facealign.tracking import ensure_experiment, training_run

    experiment_id = ensure_experiment(cfg)
    previous = work.run_id
    if previous is not None:
        try:
            mlflow.get_run(previous)
        except Exception:  # noqa: BLE001 - a run from another tracking store: start afresh
            previous = None
    if previous is not None:
        with mlflow.start_run(run_id=previous) as run:
            mlflow.set_tags({"resumed": "true", **stale_runs.owner_tags(RUN_NAME)})
            stale_runs.close_stale_runs(mlflow.MlflowClient(), experiment_id, RUN_NAME,
                                        closed_by=f"run {previous} (resumed)", keep=(previous,))
            yield run.info.run_id
        return
    with training_run(cfg, run_name=RUN_NAME, family="cascade", data_dir=data_dir,
                      description=DESCRIPTION) as run:
        work.run_id = run.info.run_id
        yield run.info.run_id
