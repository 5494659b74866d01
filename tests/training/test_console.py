"""Lightning's console chatter is quieted for command-line trainings."""

from __future__ import annotations

import io
import logging
import re
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch

from commands.cli import main as cli
from training.console import EpochProgress, quiet_lightning


def test_banners_go_below_warning_and_known_chatter_is_filtered() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_lightning()
        warnings.warn("Checkpoint directory /x/ckpt exists and is not empty.", UserWarning, stacklevel=1)
        warnings.warn("something else", UserWarning, stacklevel=1)
    assert logging.getLogger("pytorch_lightning").level == logging.WARNING
    assert [str(w.message) for w in caught] == ["something else"]


class _TinyStage(pl.LightningModule):
    """A linear fit that logs ``train_loss`` and ``val_nme`` per epoch, with a cascade-like ``stage``."""

    def __init__(self) -> None:
        super().__init__()
        self.layer, self.stage = torch.nn.Linear(2, 1), 1

    def training_step(self, batch, batch_idx):
        loss = torch.nn.functional.mse_loss(self.layer(batch[0]), batch[1])
        self.log("train_loss", loss, on_step=False, on_epoch=True)
        return loss

    def validation_step(self, batch, batch_idx):
        self.log("val_nme", 100 * (self.layer(batch[0]) - batch[1]).abs().mean(), on_epoch=True)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_epoch_progress_prints_one_flushed_line_per_epoch_with_stage_metrics_and_time() -> None:
    data = torch.utils.data.TensorDataset(torch.randn(16, 2), torch.randn(16, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    stream = io.StringIO()
    trainer = pl.Trainer(max_epochs=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, num_sanity_val_steps=0, accelerator="cpu",
                         callbacks=[EpochProgress("train-cascade", stream)])
    trainer.fit(_TinyStage(), loader, loader)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3
    pattern = r"^train-cascade: stage 1 epoch {}/3: train_loss [0-9.e+-]+, val_nme [0-9.e+-]+ %, [0-9.]+ s$"
    for epoch, line in enumerate(lines, start=1):
        assert re.match(pattern.format(epoch), line), line


def test_train_cascade_hands_the_progress_callback_to_the_training(monkeypatch, tmp_path) -> None:
    import training.cascade

    seen = {}

    def fake_train(cfg, callbacks=None):
        seen["callbacks"] = callbacks
        return {"val_nme": 1.0}

    monkeypatch.setattr(training.cascade, "train", fake_train)
    params = Path(__file__).resolve().parents[2] / "params.yaml"
    assert cli(["train-cascade", "--params", str(params),
                "--set", f"cascade.work_dir={tmp_path / 'work'}"]) == 0
    assert [type(c) for c in seen["callbacks"]] == [EpochProgress]
