"""MLflow for the cascade: one run per training (resumed runs continue it), per-epoch curves.

Per epoch (step = epoch counted over all stages): ``train_loss``, ``val_nme`` (percent),
``lr``, and the same with a ``stage<k>/`` prefix.  Per stage (step = k, 0 = the
initialisation): ``val_nme_after_stage``.  Only global rank 0 talks to MLflow.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytorch_lightning as pl

from training.cascade_workdir import WorkDir


class MlflowEpochLogger(pl.Callback):
    """Logs the epoch's ``train_loss`` / ``val_nme`` / ``lr`` to MLflow run ``run_id``.

    Args:
        run_id: the MLflow run (None: log nothing).
        stage: k, for the ``stage<k>/`` keys.
        epoch_offset: epochs of the earlier stages, so curves continue across stages.
    """

    def __init__(self, run_id: str | None, stage: int, epoch_offset: int) -> None:
        self.run_id, self.stage, self.offset = run_id, stage, epoch_offset
        self.lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.optimizers:  # the rate the epoch starts with (the schedule steps per batch)
            self.lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_id is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        from mlflow.tracking import MlflowClient

        metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k in ("train_loss", "val_nme")}
        if self.lr is not None:
            metrics["lr"] = self.lr
        metrics.update({f"stage{self.stage}/{k}": v for k, v in list(metrics.items())})
        step = self.offset + trainer.current_epoch
        client = MlflowClient()
        for key, value in metrics.items():
            client.log_metric(self.run_id, key, value, step=step)


def log_stage_metric(run_id: str | None, stage: int, val_nme: float) -> None:
    """``val_nme_after_stage`` at step ``stage`` (0 = initialisation, k = after Net_{k-1})."""
    if run_id is None:
        return
    from mlflow.tracking import MlflowClient

    MlflowClient().log_metric(run_id, "val_nme_after_stage", float(val_nme), step=stage)


@contextmanager
def cascade_run(cfg: dict, work: WorkDir, data_dir: str | Path, enabled: bool) -> Iterator[str | None]:
    """The training's MLflow run id (None when disabled or not rank 0).

    A resumed training continues its earlier run; a new one opens a run through
    :func:`facealign.tracking.training_run` (parameters, git commit, data hash).
    """
    if not enabled or not work.writer:
        yield None
        return
    import mlflow

    from facealign.tracking import ensure_experiment, training_run

    ensure_experiment(cfg)
    previous = work.run_id
    if previous is not None:
        try:
            mlflow.get_run(previous)
        except Exception:  # noqa: BLE001 - a run from another tracking store: start afresh
            previous = None
    if previous is not None:
        with mlflow.start_run(run_id=previous) as run:
            mlflow.set_tag("resumed", "true")
            yield run.info.run_id
        return
    with training_run(cfg, run_name="cascade", family="cascade", data_dir=data_dir) as run:
        work.run_id = run.info.run_id
        yield run.info.run_id
