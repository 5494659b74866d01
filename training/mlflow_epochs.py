"""Per-epoch MLflow curves under the names every family shares (docs/mlflow.md).

One callback for the Lightning-trained families, so MLflow's Compare view lines their
runs up (and the sweep's trial runs, which log the same names): per epoch, step = epoch,

* ``train_loss``: the family's training objective, mean over the epoch's batches;
* ``val_loss``: the same objective on the validation faces;
* ``val_nme``: NME on the validation faces, percent (landmark families);
* ``lr``: the learning rate the epoch started with;
* family extras that Lightning logged, e.g. DFF's ``val_patch_acc``.

The cascade continues one curve across its stages (``epoch_offset``) and adds a copy per
stage under ``stage<k>/``.  Only global rank 0 logs.
"""

from __future__ import annotations

import time

import pytorch_lightning as pl

EPOCH_METRICS = ("train_loss", "val_loss", "val_nme", "val_patch_acc")


class MlflowEpochLogger(pl.Callback):
    """Logs :data:`EPOCH_METRICS` found in the trainer's epoch metrics, and ``lr``, to run ``run_id``.

    Args:
        run_id: the MLflow run (None: log nothing).
        epoch_offset: epochs of earlier stages, so curves continue across stages.
        prefix: also log every value under ``<prefix><name>`` (e.g. ``stage1/``).
    """

    def __init__(self, run_id: str | None, epoch_offset: int = 0, prefix: str | None = None) -> None:
        self.run_id, self.offset, self.prefix = run_id, epoch_offset, prefix
        self.lr: float | None = None

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.optimizers:  # the rate the epoch starts with (schedules step per batch)
            self.lr = float(trainer.optimizers[0].param_groups[0]["lr"])

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.run_id is None or not trainer.is_global_zero or trainer.sanity_checking:
            return
        from mlflow.entities import Metric
        from mlflow.tracking import MlflowClient

        values = {k: float(v) for k, v in trainer.callback_metrics.items() if k in EPOCH_METRICS}
        if self.lr is not None:
            values["lr"] = self.lr
        if self.prefix:
            values.update({f"{self.prefix}{k}": v for k, v in list(values.items())})
        step, stamp = self.offset + trainer.current_epoch, int(time.time() * 1000)
        MlflowClient().log_batch(self.run_id, metrics=[Metric(k, v, stamp, step) for k, v in values.items()])
