"""A tiny stand-in for a family's ``train(cfg, callbacks, trainer_overrides)``, for tests only.

It fits a one-weight linear regression with Lightning (so the sweep's Lightning callbacks,
DDP strategy and schedules really run), logs ``val_nme``, resumes from
``cascade.work_dir/stage0/last.ckpt`` like the cascade, and saves the mean-shape baseline
of ``paths.face_model`` as its "model" (an aligner directory the registry takes).
Behaviour the tests need is switched by ``cfg["standin"]``:

- ``record_dir``: write one JSON per attempt (trial id, rank, GPUs, world size, backend, times);
- ``epoch_sleep``: seconds per epoch;
- ``fail_always`` / ``fail_once``: trial-id suffixes (e.g. ``"00000"``) that raise always / once;
- ``interrupt_after``: send SIGINT to ``driver_pid`` after that many epochs of trial ``00001``.
"""

from __future__ import annotations

import json
import os
import signal
import time
import uuid
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from facealign.aligners.mean_shape import save_mean_shape_aligner
from facealign.models.lr_schedules import build_scheduler
from facegeom.morphable_model import MorphableModel


class TinyRegression(pl.LightningModule):
    def __init__(self, lr: float, weight_decay: float, schedule: str, knobs: dict, hooks: dict) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.lr, self.weight_decay, self.schedule = lr, weight_decay, schedule
        self.knobs, self.hooks = knobs, hooks

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 30.0 * self.w * x  # scaled so that learning rates around 1e-3 learn in a few epochs

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        return torch.mean((self(x) - y) ** 2)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        self.log("val_nme", 100 * torch.mean((self(x) - y) ** 2), sync_dist=True)

    def on_train_epoch_end(self) -> None:
        time.sleep(float(self.hooks.get("epoch_sleep", 0.0)))
        _maybe_interrupt(self.hooks, self.current_epoch + 1)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = max(int(self.trainer.estimated_stepping_batches) // max(self.trainer.max_epochs, 1), 1)
        sched = build_scheduler(self.schedule, opt, steps_per_epoch=steps,
                                max_epochs=self.trainer.max_epochs, **self.knobs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def _trial_id() -> str:
    try:
        from ray import tune

        return tune.get_context().get_trial_id() or "none"
    except Exception:  # noqa: BLE001 - a Ray Train worker: the trial id is not available here
        return os.environ.get("STANDIN_TRIAL", "worker")


def _maybe_interrupt(hooks: dict, epoch: int) -> None:
    if hooks.get("interrupt_after") and _trial_id().endswith("00001") and epoch == hooks["interrupt_after"]:
        marker = Path(hooks["record_dir"]) / "interrupted"
        if not marker.exists():
            marker.write_text("1")
            os.kill(int(hooks["driver_pid"]), signal.SIGINT)


def _record(hooks: dict, **info: Any) -> None:
    if hooks.get("record_dir"):
        path = Path(hooks["record_dir"]) / f"{uuid.uuid4().hex}.json"
        path.write_text(json.dumps(info))


def train(cfg: dict, callbacks: list | None = None, trainer_overrides: dict | None = None) -> dict:
    """The stand-in training entry (cascade-shaped config)."""
    import ray

    hooks, c = cfg.get("standin", {}), cfg["cascade"]
    trial = _trial_id()
    start = time.time()
    fail_dir = Path(hooks.get("record_dir", "/tmp"))
    if any(trial.endswith(s) for s in hooks.get("fail_always", [])):
        raise RuntimeError(f"stand-in: trial {trial} always fails")
    if any(trial.endswith(s) for s in hooks.get("fail_once", [])):
        marker = fail_dir / f"failed-once-{trial}"
        if not marker.exists():
            marker.write_text("1")
            raise RuntimeError(f"stand-in: trial {trial} fails on its first attempt")
    pl.seed_everything(int(c["seed"]) % 2**31, verbose=False)
    x = torch.linspace(-1, 1, 64).unsqueeze(1)
    data = DataLoader(TensorDataset(x, 3 * x), batch_size=int(c["batch_size"]))
    module = TinyRegression(float(c["lr"]), float(c["weight_decay"]), c["schedule"],
                            dict(c.get("schedule_knobs") or {}), hooks)
    settings = {"max_epochs": int(c["max_epochs"]), "logger": False, "enable_checkpointing": False,
                "enable_model_summary": False, "num_sanity_val_steps": 0, "accelerator": "cpu",
                "callbacks": list(callbacks or [])}
    settings.update(trainer_overrides or {})
    trainer = pl.Trainer(**settings)
    resume = Path(c["work_dir"]) / "stage0" / "last.ckpt"  # where the cascade resumes a stage from
    trainer.fit(module, train_dataloaders=data, val_dataloaders=data,
                ckpt_path=str(resume) if resume.is_file() else None)
    dist = torch.distributed.is_available() and torch.distributed.is_initialized()
    if trainer.is_global_zero:
        save_mean_shape_aligner(MorphableModel.load(cfg["paths"]["face_model"]), c["output"])
    _record(hooks, trial=trial, start=start, end=time.time(), gpu_ids=[str(g) for g in ray.get_gpu_ids()],
            rank=trainer.global_rank, world_size=torch.distributed.get_world_size() if dist else 1,
            backend=torch.distributed.get_backend() if dist else None, epochs=trainer.current_epoch)
    return {k: float(v) for k, v in trainer.callback_metrics.items()}
