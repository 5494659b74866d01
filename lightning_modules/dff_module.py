"""Lightning module training the DFF U-Net with the multi-head angular softmax loss.

A batch (from :mod:`datamodules.dff_data`) holds images (B, H, W, 3) uint8, sampled pixel
indices (B, K), their patch labels (B, S, K) and a validity mask (B, K).  The network
describes every pixel; the K sampled descriptors per image go through S cosine classifiers
(one per random segmentation); the loss is the sum over segmentations of the per-image
mean cross-entropy.  Logged: ``train_loss``, ``val_loss`` and ``val_patch_acc`` (mean
nearest-class accuracy over the heads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pytorch_lightning as pl
import torch

from facealign.models.angular_softmax import MultiHeadAngularSoftmax
from facealign.models.dff_unet import DFFUNet, normalize_images
from lightning_modules.errors import NonFiniteLossError


class DFFModule(pl.LightningModule):
    """The DFF network plus its S classification heads (only the network is exported).

    Args:
        n_segmentations: S.
        n_patches: P.
        dim: descriptor length.
        widths: U-Net channels per level.
        scale: angular-softmax logit scale.
        lr, weight_decay: AdamW settings.
        warmup_fraction: share of the steps with a linear learning-rate warm-up; a cosine
            decay to zero follows.
    """

    def __init__(self, n_segmentations: int, n_patches: int, dim: int = 32,
                 widths: Sequence[int] = (64, 128, 256, 512, 1024), scale: float = 16.0,
                 lr: float = 2e-3, weight_decay: float = 1e-4, warmup_fraction: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = DFFUNet(dim=dim, widths=widths)
        self.heads = MultiHeadAngularSoftmax(n_segmentations, n_patches, dim, scale)

    def forward(self, images_uint8: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 -> (B, dim, H, W) unit descriptors."""
        return self.net(normalize_images(images_uint8))

    def _sampled(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Descriptors (B, K, D) at the sampled pixels and labels (S, B, K)."""
        desc = self(batch["image"]).flatten(2)  # (B, D, H*W)
        idx = batch["pixels"][:, None, :].expand(-1, desc.shape[1], -1)
        feats = torch.gather(desc, 2, idx).transpose(1, 2)
        return feats, batch["labels"].permute(1, 0, 2)

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        feats, labels = self._sampled(batch)
        loss = self.heads(feats, labels, batch["valid"])
        if not torch.isfinite(loss):
            raise NonFiniteLossError(
                f"DFF training loss is {loss.item()} at step {self.global_step}: lower dff.train.lr "
                "or dff.loss.scale, or check the training data")
        self.log("train_loss", loss, prog_bar=True, on_step=False, on_epoch=True, batch_size=feats.shape[0])
        return loss

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> None:
        feats, labels = self._sampled(batch)
        loss = self.heads(feats, labels, batch["valid"])
        ok = batch["valid"]
        acc = self.heads.accuracy(feats[ok], labels[:, ok]).mean()
        self.log_dict({"val_loss": loss, "val_patch_acc": acc}, prog_bar=True, batch_size=feats.shape[0])

    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        steps = float(self.trainer.estimated_stepping_batches)
        total = max(int(steps), 1) if math.isfinite(steps) else 10**9  # unbounded run: no decay
        warmup = max(int(hp.warmup_fraction * total), 1)

        def factor(step: int) -> float:
            if step < warmup:
                return (step + 1) / warmup
            return 0.5 * (1 + math.cos(math.pi * min((step - warmup) / max(total - warmup, 1), 1.0)))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
