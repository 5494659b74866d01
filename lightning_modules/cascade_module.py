"""The LightningModule that trains one stage Net_k of the cascade.

Batches come from :class:`datamodules.cascade_data.CascadeDataset`.  Per epoch it logs
``train_loss`` (the chosen PDC / WPDC / VDC loss) and ``val_nme`` (percent; landmarks of
``p_k + Net_k(...)`` against the ground truth in the crop, normalised by the landmark box).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytorch_lightning as pl
import torch

from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.losses import CascadeLoss
from facealign.models.lr_schedules import build_scheduler
from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry, nme_torch
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params
from lightning_modules.errors import NonFiniteLossError

OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule settings of the ``cascade`` section."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    schedule_knobs: dict[str, Any] = field(default_factory=dict)
    nan_check_every: int = 1

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> OptimConfig:
        return cls(**{k: section[k] for k in cls.__dataclass_fields__ if k in section})


class CascadeModule(pl.LightningModule):
    """Net_k with its loss, optimiser and schedule.

    Args:
        net_cfg: layer configuration of the network.
        input_size: crop side S, pixels.
        model: the morphable model (sizes the output; its sparse vertices feed WPDC / VDC / NME).
        delta_stats: z-score of this stage's updates ``p* - p_k``.
        loss: ``pdc`` | ``wpdc`` | ``vdc``.
        optim: optimiser and learning-rate schedule.
        stage: k, for messages.
        loss_vertices: sparse vertices besides the 68 landmarks used by the losses.
    """

    def __init__(self, net_cfg: NetConfig, input_size: int, model: MorphableModel, delta_stats: ZScore,
                 loss: str = "wpdc", optim: OptimConfig | None = None, stage: int = 0,
                 loss_vertices: int = 132) -> None:
        super().__init__()
        self.net = CascadeNet(net_cfg, input_size, n_params(model))
        self.loss_fn = CascadeLoss(loss, SparseGeometry(model, loss_vertices), delta_stats, input_size)
        self.optim = optim or OptimConfig()
        self.stage = stage
        if self.optim.optimizer not in OPTIMIZERS:
            raise ValueError(f"cascade.optimizer: unknown {self.optim.optimizer!r} (have: {OPTIMIZERS})")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pred = self.net(batch["input"])
        loss = self.loss_fn(pred, batch["target"], batch["p_k"])
        if batch_idx % max(self.optim.nan_check_every, 1) == 0 and not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"cascade stage {self.stage}, epoch {self.current_epoch}, batch {batch_idx}: the training "
                f"loss is {loss.item()}; training stops. Try a lower cascade.lr (now {self.optim.lr}) or "
                f"another cascade.loss, and check the training data.")
        self.log("train_loss", loss, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=batch["input"].shape[0])
        return loss

    def predict_params(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        """p_{k+1} = p_k + Net_k(...) in the crop frame, raw units, (B, P)."""
        return self.loss_fn.raw(self.net(batch["input"]), batch["p_k"])

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        params = self.predict_params(batch)
        landmarks = self.loss_fn.geometry.landmarks(params)
        nme = nme_torch(landmarks, batch["landmarks"]) * 100.0
        self.log("val_nme", nme.mean(), on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=nme.shape[0])

    def build_optimizer(self, steps_per_epoch: int, max_epochs: int
                        ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """The optimiser over the network and its per-step schedule (also usable without a Trainer)."""
        o = self.optim
        params = self.net.parameters()
        if o.optimizer == "sgd":
            opt = torch.optim.SGD(params, lr=o.lr, momentum=o.momentum, weight_decay=o.weight_decay)
        elif o.optimizer == "adamw":
            opt = torch.optim.AdamW(params, lr=o.lr, weight_decay=o.weight_decay)
        else:  # Adam's weight_decay adds lambda * W to the gradient: L2 regularisation in the loss
            opt = torch.optim.Adam(params, lr=o.lr, weight_decay=o.weight_decay)
        scheduler = build_scheduler(o.schedule, opt, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs,
                                    **dict(o.schedule_knobs or {}))
        return opt, scheduler

    def configure_optimizers(self) -> dict[str, Any]:
        max_epochs = max(int(self.trainer.max_epochs or 1), 1)
        steps = max(int(self.trainer.estimated_stepping_batches) // max_epochs, 1)
        opt, scheduler = self.build_optimizer(steps, max_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
