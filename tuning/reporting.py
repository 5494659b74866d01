"""Lightning callbacks that carry a trial's per-epoch metric to Ray Tune (or Ray Train).

:class:`EpochReporter` reports the validation metric after every epoch.  The report of the
trial's **last** epoch is held back until the family's ``train`` has saved the model, and
then goes out together with that model as the trial's checkpoint: one report per epoch,
so the scheduler's epoch count stays exact and a trial that the scheduler stops at its
last epoch still leaves its model behind.

:class:`LearningRateOverride` lets PBT's mutated learning rate win over the rate stored in
a checkpoint the trial resumes from.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytorch_lightning as pl

ReportFn = Callable[[dict[str, Any], str | None], None]
SnapshotFn = Callable[[pl.Trainer, int], str]
MODEL_DIR = "model"
PROGRESS_FILE = "progress.json"


def read_progress(folder: str | Path) -> dict[str, int] | None:
    """The progress a snapshot folder records (epochs reported, fit index), if any."""
    path = Path(folder) / PROGRESS_FILE
    return json.loads(path.read_text()) if path.is_file() else None


class EpochReporter(pl.Callback):
    """Report ``{metric, "epoch", "lr"}`` after each validation.

    Args:
        report: ``report(metrics, checkpoint_dir_or_None)``; it must copy the directory.
        metric: the logged metric to report (e.g. ``val_nme``).
        n_fits: how many ``trainer.fit`` calls the family's ``train`` makes (cascade stages);
            the last epoch of the last fit is held back for :meth:`finish`.
        snapshot: ``snapshot(trainer, fit_index) -> folder`` of resumable state to attach to
            every report (PBT); the reporter adds its own progress (:data:`PROGRESS_FILE`)
            and deletes the folder once reported.
        progress: the progress stored in the snapshot the trial resumes from, if any.
    """

    def __init__(self, report: ReportFn, metric: str, n_fits: int = 1,
                 snapshot: SnapshotFn | None = None, progress: dict[str, int] | None = None) -> None:
        super().__init__()
        self._report = report
        self._metric = metric
        self._n_fits = max(int(n_fits), 1)
        self._snapshot = snapshot
        # a resumed trial restarts the fit it was in (fits before it are skipped, not refit)
        self._fits = int((progress or {}).get("fit_index", 0))
        self._epochs = int((progress or {}).get("epochs", 0))
        self._last: dict[str, Any] | None = (progress or {}).get("last")
        self._held: dict[str, Any] | None = None
        self._held_ckpt: str | None = None

    @property
    def epochs(self) -> int:
        """Epochs validated so far, over all fits."""
        return self._epochs

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._fits += 1

    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self._metric)
        if value is None:
            raise KeyError(f"the trial reports {self._metric!r} but training logged only "
                           f"{sorted(trainer.callback_metrics)}")
        self._epochs += 1
        metrics = {self._metric: float(value), "epoch": self._epochs, "lr": _current_lr(trainer)}
        self._last = metrics
        ckpt_dir = None
        if self._snapshot:
            ckpt_dir = self._snapshot(trainer, self._fits - 1)
            progress = {"epochs": self._epochs, "fit_index": self._fits - 1, "last": metrics}
            (Path(ckpt_dir) / PROGRESS_FILE).write_text(json.dumps(progress))
        last_epoch = trainer.max_epochs is not None and trainer.current_epoch + 1 >= trainer.max_epochs
        if self._fits >= self._n_fits and last_epoch:
            self._held, self._held_ckpt = metrics, ckpt_dir
            return
        try:
            self._report(metrics, ckpt_dir)
        finally:
            if ckpt_dir:
                shutil.rmtree(ckpt_dir, ignore_errors=True)

    def finish(self, model_dir: str | Path | None) -> dict[str, Any]:
        """Report the held-back last epoch with the saved model; returns the final metrics.

        If training ended before its last planned epoch (early stopping, or a PBT copy of a
        trial that had already finished), the last metrics are reported once more, now with
        the model.
        """
        metrics = self._held or self._last
        if metrics is None:
            raise RuntimeError(f"training finished without a single validation of {self._metric!r}")
        folder = self._held_ckpt or tempfile.mkdtemp(prefix="tune-final-")
        try:
            if model_dir is not None:
                shutil.copytree(model_dir, Path(folder) / MODEL_DIR)
            self._report(metrics, folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            self._held = self._held_ckpt = None
        return metrics


def _current_lr(trainer: pl.Trainer) -> float:
    optimizers = trainer.optimizers
    return float(optimizers[0].param_groups[0]["lr"]) if optimizers else float("nan")


class LearningRateOverride(pl.Callback):
    """Set the schedule's base (peak) learning rate to ``lr`` when training starts.

    A trial resumed from a checkpoint restores its optimizer and scheduler, including the
    old rate; PBT's mutation of ``lr`` must replace it.  Each rate is rescaled by
    ``lr / old_base``, so the position in the schedule is kept.
    """

    def __init__(self, lr: float) -> None:
        super().__init__()
        self._lr = float(lr)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        for config in trainer.lr_scheduler_configs:
            scheduler = config.scheduler
            for i, group in enumerate(scheduler.optimizer.param_groups):
                old = float(group.get("max_lr", scheduler.base_lrs[i]))
                ratio = self._lr / old if old > 0 else 1.0
                if ratio == 1.0:
                    continue
                for key in ("lr", "initial_lr", "max_lr", "min_lr"):
                    if key in group:
                        group[key] *= ratio
                scheduler.base_lrs[i] *= ratio
