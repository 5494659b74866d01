"""Per-epoch reporting from Lightning: one report per epoch, the last one carries the model."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from standin import TinyRegression
from torch.utils.data import DataLoader, TensorDataset

from tuning.reporting import MODEL_DIR, PROGRESS_FILE, EpochReporter, LearningRateOverride


class Reports:
    """A report function that remembers each report and what its checkpoint folder held."""

    def __init__(self) -> None:
        self.metrics: list[dict] = []
        self.files: list[set[str] | None] = []

    def __call__(self, metrics: dict, folder: str | None) -> None:
        self.metrics.append(metrics)
        self.files.append(None if folder is None else
                          {str(p.relative_to(folder)) for p in Path(folder).rglob("*") if p.is_file()})


def _fit(callbacks: list, epochs: int, schedule: str = "cosine", knobs: dict | None = None) -> pl.Trainer:
    x = torch.linspace(-1, 1, 32).unsqueeze(1)
    data = DataLoader(TensorDataset(x, 2 * x), batch_size=8)
    module = TinyRegression(1e-3, 0.0, schedule, knobs or {}, {})
    trainer = pl.Trainer(max_epochs=epochs, logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         accelerator="cpu", callbacks=callbacks)
    trainer.fit(module, train_dataloaders=data, val_dataloaders=data)
    return trainer


def test_each_epoch_is_reported_and_the_last_waits_for_the_saved_model(tmp_path):
    reports = Reports()
    reporter = EpochReporter(reports, "val_nme")
    _fit([reporter], epochs=3)
    assert [m["epoch"] for m in reports.metrics] == [1, 2]
    assert reports.files == [None, None]

    model = tmp_path / "model"
    model.mkdir()
    (model / "aligner.json").write_text("{}")
    final = reporter.finish(model)

    assert [m["epoch"] for m in reports.metrics] == [1, 2, 3]
    assert reports.files[-1] == {f"{MODEL_DIR}/aligner.json"}
    assert final == reports.metrics[-1] and final["val_nme"] < reports.metrics[0]["val_nme"]
    assert set(final) == {"val_nme", "epoch", "lr"}


def test_epochs_count_on_across_the_fits_of_a_cascade():
    reports = Reports()
    reporter = EpochReporter(reports, "val_nme", n_fits=2)
    _fit([reporter], epochs=2)
    _fit([reporter], epochs=2)
    reporter.finish(None)
    assert [m["epoch"] for m in reports.metrics] == [1, 2, 3, 4]


def test_a_snapshot_goes_with_every_report_when_asked(tmp_path):
    reports = Reports()

    def snapshot(trainer: pl.Trainer, fit_index: int) -> str:
        folder = tmp_path / f"snap{trainer.current_epoch}"
        trainer.save_checkpoint(str(folder / "work" / f"stage{fit_index}" / "last.ckpt"))
        return str(folder)

    reporter = EpochReporter(reports, "val_nme", snapshot=snapshot)
    _fit([reporter], epochs=2)
    reporter.finish(None)
    assert reports.files == [{"work/stage0/last.ckpt", PROGRESS_FILE}] * 2
    assert not any(tmp_path.glob("snap*"))  # reported folders are cleaned up


def test_a_trial_resumed_from_a_snapshot_counts_on_from_its_progress():
    reports = Reports()
    progress = {"epochs": 5, "fit_index": 0, "last": {"val_nme": 1.0, "epoch": 5, "lr": 0.1}}
    reporter = EpochReporter(reports, "val_nme", progress=progress)
    _fit([reporter], epochs=2)
    reporter.finish(None)
    assert [m["epoch"] for m in reports.metrics] == [6, 7]


def test_a_resumed_trial_with_nothing_left_to_train_reports_its_last_metrics_with_the_model(tmp_path):
    reports = Reports()
    last = {"val_nme": 1.0, "epoch": 5, "lr": 0.1}
    reporter = EpochReporter(reports, "val_nme", progress={"epochs": 5, "fit_index": 0, "last": last})
    (tmp_path / "model").mkdir()
    assert reporter.finish(tmp_path / "model") == last
    assert reports.metrics == [last] and reports.files == [set()]


def test_a_missing_metric_is_an_error_that_names_what_was_logged():
    with pytest.raises(KeyError, match="val_nme"):
        _fit([EpochReporter(Reports(), "val_accuracy")], epochs=1)


@pytest.mark.parametrize("schedule, knobs", [
    ("cosine", {}), ("one_cycle", {}), ("paper", {"milestones_epochs": [1, 2]})])
def test_the_learning_rate_override_rescales_the_whole_schedule(schedule, knobs):
    seen: dict[str, list[float]] = {}

    class Rates(pl.Callback):
        def __init__(self, key: str) -> None:
            self.key = key

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            seen.setdefault(self.key, []).append(trainer.optimizers[0].param_groups[0]["lr"])

    _fit([Rates("plain")], epochs=3, schedule=schedule, knobs=knobs)
    _fit([LearningRateOverride(1e-3 * 3), Rates("tripled")], epochs=3, schedule=schedule, knobs=knobs)
    assert seen["tripled"] == pytest.approx([3 * lr for lr in seen["plain"]])

