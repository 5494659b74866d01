"""Training throughput of a cascade stage, and Lightning's overhead over a plain PyTorch loop.

1. ``samples_per_s``: stage-0 training at the configured settings (``params.yaml``
   ``cascade``: batch size, DataLoader workers rendering the PNCC, threads), measured over
   the epochs after the first (the first also renders every face's PNCC into the cache;
   its rate is reported as ``first_epoch_samples_per_s``).
2. ``lightning_overhead_ratio``: time per optimisation step under ``pl.Trainer`` divided by
   the time per step of a hand-written loop (zero_grad, forward, loss, backward, step,
   scheduler step) over the **same** model and the **same** pre-built batches in memory,
   alternated ``--rounds`` times, median of each.  1.0 means no overhead; the target is at
   most 1.10.  ``lightning_step_rate_ratio`` is its inverse (Lightning's step rate over the
   plain loop's).

Data: ``data/synthetic/train`` with ``models/face_model.npz`` when present, else random
images with parameters drawn from the face model (speed does not depend on content).
Writes ``bench/results/train_cascade.json``.

Usage: ``python bench/train_cascade.py [--epochs 3] [--steps 40] [--set cascade.batch_size=64]``
"""

from __future__ import annotations

import argparse
import copy
import gc
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def load_faces(cfg: dict, n_random: int):
    """The training faces (a :class:`datamodules.cascade_data.FaceSet`) and the face model."""
    from datamodules.cascade_data import FaceSet, load_faceset
    from facealign.face_model import build_face_model
    from facealign.models.net_input import square_box
    from facegeom.morphable_model import MorphableModel

    c = cfg["cascade"]
    model_path, data = REPO / cfg["paths"]["face_model"], REPO / cfg["paths"]["data"] / "train"
    model = MorphableModel.load(model_path) if model_path.is_file() else build_face_model(cfg["face_model"])
    if model_path.is_file() and data.is_dir():
        return load_faceset(data, model, c["crop_scale"], c["crop_shift"]), model, str(data)
    rng = np.random.default_rng(0)
    params = np.zeros((n_random, 6 + model.n_id + model.n_exp))
    params[:, 0] = 80.0 / np.ptp(model.mean[:, 0])
    params[:, 1:4] = rng.uniform(-0.5, 0.5, (n_random, 3))
    params[:, 4:6] = 60.0
    params[:, 6:] = rng.normal(size=(n_random, model.n_id + model.n_exp)) * np.r_[model.id_std, model.exp_std]
    lm = np.tile(model.mean[model.landmarks, :2] * params[0, 0] * [1, -1] + 60.0, (n_random, 1, 1))
    boxes = square_box(np.concatenate([lm.min(1), lm.max(1)], 1), c["crop_scale"], c["crop_shift"])
    images = [rng.integers(0, 256, (120, 120, 3), dtype=np.uint8) for _ in range(n_random)]
    faces = FaceSet([Path("random")] * n_random, boxes, params, lm, np.zeros(n_random), images)
    return faces, model, "random"


def stage0(cfg: dict, faces, model):
    """The stage-0 training dataset and LightningModule at the configured settings."""
    from datamodules.cascade_data import CascadeDataset
    from facealign.models.cascade_net import NetConfig
    from facealign.models.param_stats import ZScore
    from facegeom.parameters import from_crop, to_crop
    from lightning_modules.cascade_module import CascadeModule
    from training.cascade_settings import CascadeSettings

    s = CascadeSettings.from_section(cfg["cascade"])
    truth = to_crop(faces.params, faces.boxes, s.input_size)
    stats = ZScore.fit(truth)
    estimates = from_crop(np.broadcast_to(stats.mean, truth.shape), faces.boxes, s.input_size)
    delta = ZScore.fit(truth - to_crop(estimates, faces.boxes, s.input_size))
    dataset = CascadeDataset(faces, model, estimates, delta, s.input_size, s.box_jitter, s.param_noise,
                             s.cache_pncc)
    module = CascadeModule(NetConfig.from_section(s.net), s.input_size, model, delta, s.loss_of(0), s.optim(),
                           loss_vertices=s.loss_vertices)
    return s, dataset, module


def quiet_trainer(**kwargs):
    import pytorch_lightning as pl

    return pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                      **kwargs)


def pipeline_throughput(s, dataset, module, epochs: int) -> dict:
    """Samples per second of real training (workers render and crop) per epoch."""
    import pytorch_lightning as pl

    from datamodules.cascade_data import CascadeDataModule

    times: list[tuple[float, int]] = []

    class Clock(pl.Callback):
        def on_train_epoch_start(self, trainer, pl_module):
            self.start, self.samples = time.perf_counter(), 0

        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            self.samples += len(batch["index"])

        def on_train_epoch_end(self, trainer, pl_module):
            times.append((time.perf_counter() - self.start, self.samples))

    data = CascadeDataModule(dataset, None, s.batch_size, s.num_workers)
    before = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    quiet_trainer(max_epochs=epochs, callbacks=[Clock()], limit_val_batches=0).fit(module, datamodule=data)
    del data  # the persistent workers exit; their CPU time joins RUSAGE_CHILDREN
    gc.collect()
    after = (resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN))
    main_s, workers_s = ((a.ru_utime + a.ru_stime) - (b.ru_utime + b.ru_stime)
                         for a, b in zip(after, before, strict=True))
    rates = [n / t for t, n in times]
    samples = sum(n for _, n in times)
    return {"samples_per_s": round(float(np.median(rates[1:] if len(rates) > 1 else rates)), 1),
            "first_epoch_samples_per_s": round(rates[0], 1), "epochs_timed": len(rates),
            # CPU seconds per 1000 samples, all epochs: an idle machine's wall time is at least
            # the main process's share and at least the total divided by the cores
            "cpu_s_per_1000_samples_main": round(1000 * main_s / samples, 2),
            "cpu_s_per_1000_samples_workers": round(1000 * workers_s / samples, 2)}


def overhead(module, batches: list[dict], rounds: int, warmup: int = 5) -> dict:
    """Seconds per step: Lightning vs a plain loop over the same model and batches."""
    import pytorch_lightning as pl
    import torch
    from torch.utils.data import DataLoader

    class Batches(torch.utils.data.Dataset):
        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    class StepClock(pl.Callback):
        def __init__(self):
            self.starts: list[float] = []

        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            self.starts.append(time.perf_counter())

        def on_train_end(self, trainer, pl_module):
            self.starts.append(time.perf_counter())

    def plain(m) -> float:
        optimizer, scheduler = m.build_optimizer(len(batches), 1)
        m.train()
        for i, b in enumerate(batches):
            if i == warmup:
                start = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            loss = m.loss_fn(m.net(b["input"]), b["target"], b["p_k"])
            loss.backward()
            optimizer.step()
            scheduler.step()
        return (time.perf_counter() - start) / (len(batches) - warmup)

    def lightning(m) -> float:
        clock = StepClock()
        loader = DataLoader(Batches(), batch_size=None, shuffle=False)
        quiet_trainer(max_epochs=1, callbacks=[clock], limit_val_batches=0).fit(m, train_dataloaders=loader)
        steps = np.diff(clock.starts)[warmup:]
        return float(steps.mean())

    plain_s, lightning_s = [], []
    for _ in range(rounds):
        plain_s.append(plain(copy.deepcopy(module)))
        lightning_s.append(lightning(copy.deepcopy(module)))
    p, lt = float(np.median(plain_s)), float(np.median(lightning_s))
    return {"lightning_overhead_ratio": round(lt / p, 3), "lightning_step_rate_ratio": round(p / lt, 3),
            "plain_ms_per_step": round(p * 1000, 2), "lightning_ms_per_step": round(lt * 1000, 2),
            "overhead_rounds": rounds, "overhead_steps": len(batches) - warmup}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the throughput run")
    parser.add_argument("--steps", type=int, default=40, help="steps per overhead round")
    parser.add_argument("--rounds", type=int, default=5, help="alternated overhead rounds")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "train_cascade.json"))
    args = parser.parse_args(argv)

    import torch

    from facealign.config import load_params
    from training.console import quiet_lightning
    quiet_lightning()
    cfg = load_params(REPO / "params.yaml", args.overrides)
    faces, model, source = load_faces(cfg, n_random=512)
    s, dataset, module = stage0(cfg, faces, model)
    torch.set_num_threads(s.threads())
    throughput = pipeline_throughput(s, dataset, copy.deepcopy(module), args.epochs)

    collate = torch.utils.data.default_collate
    order = np.random.default_rng(0).permutation(len(dataset))
    batches = [collate([dataset[int(i)] for i in order[(k * s.batch_size) % len(order):][: s.batch_size]])
               for k in range(args.steps)]
    result = {**throughput, **overhead(module, batches, args.rounds), "batch_size": s.batch_size,
              "num_workers": s.num_workers, "torch_threads": torch.get_num_threads(),
              "input_size": s.input_size, "loss": s.loss_of(0), "data": source, "faces": len(dataset),
              "cpu_count": os.cpu_count(), "machine": platform.machine()}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"training: {result['samples_per_s']} samples/s (first epoch, rendering the PNCC cache: "
          f"{result['first_epoch_samples_per_s']}); CPU s per 1000 samples: main "
          f"{result['cpu_s_per_1000_samples_main']}, workers {result['cpu_s_per_1000_samples_workers']}")
    print(f"Lightning {result['lightning_ms_per_step']} ms/step vs "
          f"plain loop {result['plain_ms_per_step']} ms/step: overhead ratio "
          f"{result['lightning_overhead_ratio']} (target <= 1.10)")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
