"""The LightningModule that trains one stage Net_k of the cascade.

Batches come from :class:`datamodules.cascade_data.CascadeDataset`.  Per epoch it logs
``train_loss`` (the chosen PDC / WPDC / VDC loss), ``val_loss`` (the same loss on the
validation faces) and ``val_nme`` (percent; landmarks of ``p_k + Net_k(...)`` against the
ground truth in the crop, normalised by the landmark box): the names every family shares
(``training/mlflow_epochs.py``).
"""

from __future__ import annotations

from typing import Any

import pytorch_lightning as pl
import torch

from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.losses import CascadeLoss
from facealign.models.lr_schedules import OPTIMIZERS, OptimConfig, build_optimizer
from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry, nme_torch
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params
from lightning_modules.errors import NonFiniteLossError


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
        pred = self.net(batch["input"])
        params = self.loss_fn.raw(pred, batch["p_k"])
        landmarks = self.loss_fn.geometry.landmarks(params)
        nme = nme_torch(landmarks, batch["landmarks"]) * 100.0
        loss = self.loss_fn(pred, batch["target"], batch["p_k"])
        self.log_dict({"val_nme": nme.mean(), "val_loss": loss}, on_step=False, on_epoch=True,
                      sync_dist=True, batch_size=nme.shape[0])

    def build_optimizer(self, steps_per_epoch: int, max_epochs: int
                        ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
        """The optimiser over the network and its per-step schedule (also usable without a Trainer)."""
        return build_optimizer(self.optim, self.net.parameters(), steps_per_epoch, max_epochs)

    def configure_optimizers(self) -> dict[str, Any]:
        max_epochs = max(int(self.trainer.max_epochs or 1), 1)
        steps = max(int(self.trainer.estimated_stepping_batches) // max_epochs, 1)
        opt, scheduler = self.build_optimizer(steps, max_epochs)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
