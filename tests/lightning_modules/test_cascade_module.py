"""The LightningModule of one cascade stage: loss, optimiser, schedule, per-epoch logs."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl
import torch

from datamodules.cascade_data import CascadeDataModule, CascadeDataset, load_faceset
from facealign.models.cascade_net import NetConfig
from facealign.models.lr_schedules import OptimConfig
from facealign.models.param_stats import ZScore
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import from_crop, to_crop
from lightning_modules.cascade_module import CascadeModule, NonFiniteLossError

SIZE = 32
NET = NetConfig.from_section({
    "image_stream": [{"type": "conv", "out": 8, "kernel": 5, "stride": 2, "pool": True},
                     {"type": "local", "out": 8, "kernel": 3, "pool": True}],
    "pncc_stream": [{"type": "conv", "out": 4, "kernel": 5, "stride": 2, "pool": True}],
    "feature_dim": 32,
})


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: one thread avoids OpenMP start-up and spinning on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def stage0(tiny_model_path, tiny_dataset):
    model = MorphableModel.load(tiny_model_path)
    faces = load_faceset(tiny_dataset / "train", model, 1.4, 0.1)
    truth = to_crop(faces.params, faces.boxes, SIZE)
    stats = ZScore.fit(truth)
    estimates = from_crop(np.broadcast_to(stats.mean, truth.shape), faces.boxes, SIZE)
    delta = ZScore.fit(truth - to_crop(estimates, faces.boxes, SIZE))
    return model, CascadeDataset(faces, model, estimates, delta, SIZE), delta


def batch_of(dataset, n=8):
    return torch.utils.data.default_collate([dataset[i] for i in range(n)])


@pytest.mark.parametrize("loss", ["pdc", "wpdc", "vdc"])
def test_a_few_steps_on_one_batch_reduce_the_loss(stage0, loss):
    torch.manual_seed(0)
    model, dataset, delta = stage0
    module = CascadeModule(NET, SIZE, model, delta, loss=loss, loss_vertices=20)
    batch = batch_of(dataset)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    module.train()
    first = module.loss_fn(module(batch["input"]), batch["target"], batch["p_k"]).item()
    for _ in range(20):
        value = module.loss_fn(module(batch["input"]), batch["target"], batch["p_k"])
        opt.zero_grad()
        value.backward()
        opt.step()
    assert value.item() < 0.5 * first


def test_non_finite_loss_stops_training_with_a_clear_message(stage0):
    model, dataset, delta = stage0
    module = CascadeModule(NET, SIZE, model, delta, optim=OptimConfig(lr=0.5), stage=2)
    batch = batch_of(dataset, 4)
    batch["target"][0, 0] = float("nan")
    module.log = lambda *a, **k: None  # outside a Trainer
    with pytest.raises(NonFiniteLossError, match=r"stage 2.*loss is nan.*cascade\.lr \(now 0\.5\)"):
        module.training_step(batch, 0)


def test_unknown_optimizer_is_refused(stage0):
    model, _, delta = stage0
    with pytest.raises(ValueError, match="cascade.optimizer"):
        CascadeModule(NET, SIZE, model, delta, optim=OptimConfig(optimizer="lbfgs"))


def test_trainer_logs_train_loss_and_val_nme_each_epoch_and_steps_the_schedule(stage0, tmp_path):
    model, dataset, delta = stage0
    optim = OptimConfig(lr=1e-3, schedule="paper", schedule_knobs={"milestones_epochs": [1], "gamma": 0.5})
    module = CascadeModule(NET, SIZE, model, delta, loss="wpdc", optim=optim, loss_vertices=10)
    seen = []

    class Record(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.lr = trainer.optimizers[0].param_groups[0]["lr"]

        def on_train_epoch_end(self, trainer, pl_module):
            seen.append({k: float(v) for k, v in trainer.callback_metrics.items()} | {"lr": self.lr})

    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, callbacks=[Record()],
                         default_root_dir=tmp_path, num_sanity_val_steps=0)
    trainer.fit(module, datamodule=CascadeDataModule(dataset, dataset, batch_size=8, num_workers=0))
    assert len(seen) == 2 and all({"train_loss", "val_nme"} <= set(s) for s in seen)
    assert all(np.isfinite(s["val_nme"]) and 0 < s["val_nme"] < 200 for s in seen)
    assert seen[0]["lr"] == pytest.approx(1e-3) and seen[1]["lr"] == pytest.approx(5e-4)
