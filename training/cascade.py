"""Train the cascade CNN: stage k learns p* - p_k from the crop and the PNCC of p_k.

``train(cfg)`` is the one training entry of the family (the ``train-cascade`` command, the
``train_cascade`` DVC stage and Ray Tune call it).  p_0 is the training set's mean
crop-frame parameter vector placed by each face box; after stage k, Net_k moves every
training face to p_{k+1} = p_k + Net_k(I, PNCC(p_k)) before stage k + 1 starts.  Work is
checkpointed in ``cascade.work_dir`` (see :mod:`training.cascade_workdir`); the
trained aligner is written to ``cascade.output``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.utilities.rank_zero import rank_zero_only

from datamodules.cascade_data import CascadeDataModule, CascadeDataset, FaceSet, load_faceset, make_loader
from facealign.models.cascade_bundle import CascadeBundle, save_bundle
from facealign.models.cascade_net import NetConfig
from facealign.models.param_stats import ZScore
from facealign.models.sparse_geometry import SparseGeometry
from facealign.tracking import data_hash
from faceeval.nme import nme_per_image
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import from_crop, to_crop
from lightning_modules.cascade_module import CascadeModule
from training.cascade_settings import CascadeSettings
from training.cascade_tracking import MlflowEpochLogger, cascade_run, log_stage_metric
from training.cascade_workdir import RUNTIME_KEYS, WorkDir, file_md5


def code_hash() -> str:
    """md5 over the source of the modules that define what training computes."""
    import hashlib
    import inspect

    from datamodules import cascade_data
    from facealign.data import augment, photo_effects
    from facealign.models import cascade_net, losses, lr_schedules, net_input, param_stats, sparse_geometry
    from lightning_modules import cascade_module

    digest = hashlib.md5()
    for module in (cascade_data, augment, photo_effects, cascade_net, losses, lr_schedules, net_input,
                   param_stats, sparse_geometry, cascade_module, inspect.getmodule(code_hash)):
        digest.update(file_md5(inspect.getsourcefile(module)).encode())
    return digest.hexdigest()


def split_indices(n: int, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of ``range(n)`` into sorted train and validation indices."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = int(round(n * val_fraction)) if val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if val_fraction > 0 else 0), n - 1)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def landmarks_of(model: MorphableModel, params: np.ndarray) -> np.ndarray:
    """(M, P) parameters -> (M, 68, 2) landmark pixels in the same frame."""
    with torch.no_grad():
        return SparseGeometry(model).landmarks(torch.as_tensor(params, dtype=torch.float64)).numpy()


def mean_nme(model: MorphableModel, params: np.ndarray, faces: FaceSet) -> float:
    """Mean NME in percent of parameter estimates (M, P) (image frame) against ``faces``."""
    return float(np.mean(nme_per_image(landmarks_of(model, params), faces.landmarks)) * 100.0)


@torch.no_grad()
def predict_estimates(module: CascadeModule, dataset: CascadeDataset, batch_size: int, num_workers: int,
                      device: torch.device) -> np.ndarray:
    """p_{k+1} (M, P) in the image frame for every face of ``dataset`` (unjittered,
    un-augmented crops)."""
    view = copy.copy(dataset)  # shares the PNCC cache
    view.box_jitter, view.param_noise, view.augment = 0.0, 0.0, None
    net_was_training = module.training
    module.eval().to(device)
    out = np.empty_like(view.estimates)
    for batch in make_loader(view, batch_size, num_workers):
        idx = batch["index"].numpy()
        batch = {k: v.to(device) for k, v in batch.items() if k in ("input", "p_k")}
        crop_params = module.predict_params(batch).double().cpu().numpy()
        out[idx] = from_crop(crop_params, view.faces.boxes[idx], view.size)
    module.train(net_was_training)
    return out


def _trainer(s: CascadeSettings, stage: int, work: WorkDir, run_id: str | None, epoch_offset: int,
             callbacks: list[pl.Callback], overrides: dict[str, Any]) -> pl.Trainer:
    ckpt = ModelCheckpoint(dirpath=work.checkpoint_dir(stage), filename="last", save_top_k=1,
                           enable_version_counter=False, every_n_epochs=1, save_on_train_epoch_end=True)
    best = ModelCheckpoint(dirpath=work.checkpoint_dir(stage), filename="best", monitor="val_nme", mode="min",
                           save_top_k=1, enable_version_counter=False, save_on_train_epoch_end=True)
    kwargs: dict[str, Any] = dict(
        max_epochs=s.epochs(stage), accelerator=s.accelerator, devices=s.devices, strategy=s.strategy,
        precision=s.precision, sync_batchnorm=s.sync_batchnorm, logger=False,
        callbacks=[ckpt, *([best] if s.select_best else []), MlflowEpochLogger(run_id, stage, epoch_offset),
                   *callbacks],
        enable_progress_bar=s.progress_bar, enable_model_summary=False, num_sanity_val_steps=0,
        limit_train_batches=s.limit_train_batches, limit_val_batches=s.limit_val_batches,
        default_root_dir=str(work.root), log_every_n_steps=10,
    )
    kwargs.update(overrides)
    return pl.Trainer(**kwargs)


def train(cfg: dict, callbacks: list[pl.Callback] | None = None,
          trainer_overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """Train all stages (resuming earlier work) and save the aligner.

    Args:
        cfg: the resolved configuration (``cascade`` and ``paths`` sections are read).
        callbacks: extra Lightning callbacks for every stage's trainer (e.g. Ray Tune reporting).
        trainer_overrides: keyword arguments laid over the ``pl.Trainer`` settings.
    Returns:
        ``val_nme`` (percent, after the last stage) and ``val_nme_stage<k>`` for k = 0..K
        (0 = the initialisation).
    """
    s = CascadeSettings.from_section(cfg["cascade"])
    writer = rank_zero_only.rank == 0
    threads_before = torch.get_num_threads()
    torch.set_num_threads(s.threads())
    torch.set_flush_denormal(True)  # tiny Adam moments must not fall into slow denormal arithmetic
    try:
        model = MorphableModel.load(cfg["paths"]["face_model"])
        data_dir = Path(cfg["paths"]["data"]) / "train"
        faces = load_faceset(data_dir, model, s.crop_scale, s.crop_shift, s.cache_images)
        train_idx, val_idx = split_indices(len(faces), s.val_fraction, s.seed)
        if len(val_idx) == 0:
            val_idx = train_idx  # no held-out faces: report the training NME
        truth = to_crop(faces.params, faces.boxes, s.input_size)
        param_stats = ZScore.fit(truth[train_idx])
        estimates = from_crop(np.broadcast_to(param_stats.mean, truth.shape), faces.boxes, s.input_size)
        fingerprint = {"cascade": {k: v for k, v in cfg["cascade"].items() if k not in RUNTIME_KEYS},
                       "data": data_hash(data_dir), "face_model": file_md5(cfg["paths"]["face_model"]),
                       "code": code_hash()}
        work = WorkDir(s.work_dir, fingerprint, writer)
        resumed = work.prepare()
        if resumed and writer:
            print(f"train-cascade: resuming the work in {work.root}")
        train_faces, val_faces = faces.subset(train_idx), faces.subset(val_idx)
        nmes = [mean_nme(model, estimates[val_idx], val_faces)]
        weights, deltas, summaries = [], [], []
        with cascade_run(cfg, work, data_dir, s.mlflow) as run_id:
            if not resumed:
                log_stage_metric(run_id, 0, nmes[0])
            for k in range(s.stages):
                delta = ZScore.fit(truth[train_idx] - to_crop(estimates[train_idx], faces.boxes[train_idx],
                                                                s.input_size))
                done = work.stage_done(k)
                if done:
                    state, estimates, summary = work.load_stage(k)
                else:
                    init = weights[-1] if s.warm_start and weights else None
                    state, estimates, summary = _train_stage(
                        s, k, model, delta, train_faces, val_faces, estimates, train_idx, val_idx, work,
                        run_id, init, callbacks or [], trainer_overrides or {})
                    work.save_stage(k, state, estimates, summary)
                nmes.append(mean_nme(model, estimates[val_idx], val_faces))
                if not done:
                    log_stage_metric(run_id, k + 1, nmes[-1])
                if writer:
                    print(f"train-cascade: stage {k}: validation NME {nmes[-2]:.3f}% -> {nmes[-1]:.3f}%")
                weights.append(state)
                deltas.append(delta)
                summaries.append(summary)
            if writer:
                info = {"mlflow_run_id": run_id, "val_nme_stages": nmes, "train_faces": len(train_idx),
                        "val_faces": len(val_idx), "train_data_hash": fingerprint["data"],
                        "stages_info": summaries, "test_time_flip": s.test_time_flip}
                save_bundle(CascadeBundle(model, cfg["cascade"]["net"], s.input_size, s.crop_scale,
                                          s.crop_shift, param_stats, deltas, weights, info), s.output)
        return {"val_nme": nmes[-1], **{f"val_nme_stage{k}": v for k, v in enumerate(nmes)}}
    finally:
        torch.set_num_threads(threads_before)
        torch.set_flush_denormal(False)


def _train_stage(s: CascadeSettings, k: int, model: MorphableModel, delta: ZScore, train_faces: FaceSet,
                 val_faces: FaceSet, estimates: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                 work: WorkDir, run_id: str | None, init: dict[str, torch.Tensor] | None,
                 callbacks: list[pl.Callback], overrides: dict[str, Any]
                 ) -> tuple[dict[str, torch.Tensor], np.ndarray, dict[str, Any]]:
    """Fit Net_k (from ``init`` weights if given; resuming its last checkpoint) and move every
    face to p_{k+1}."""
    pl.seed_everything(s.seed + 1000 * k, workers=True, verbose=False)
    train_set = CascadeDataset(train_faces, model, estimates[train_idx], delta, s.input_size,
                               s.box_jitter, s.param_noise, s.cache_pncc, augment=s.augment)
    val_set = CascadeDataset(val_faces, model, estimates[val_idx], delta, s.input_size,
                             cache_pncc=s.cache_pncc)  # un-augmented
    data = CascadeDataModule(train_set, val_set, s.batch_size, s.num_workers)
    module = CascadeModule(NetConfig.from_section(s.net), s.input_size, model, delta, s.loss_of(k), s.optim(),
                           stage=k, loss_vertices=s.loss_vertices)
    if init is not None:  # the previous stage's features, a fresh output layer
        module.net.load_state_dict(init)
        module.net.reset_head()
    offset = sum(s.epochs(i) for i in range(k))
    trainer = _trainer(s, k, work, run_id, offset, callbacks, overrides)
    trainer.fit(module, datamodule=data, ckpt_path=work.last_checkpoint(k), weights_only=True)
    best = work.checkpoint_dir(k) / "best.ckpt"
    best_epoch = None
    if s.select_best and best.is_file():  # the epoch with the lowest validation NME
        checkpoint = torch.load(best, map_location="cpu", weights_only=True)  # tensors and plain data only
        module.load_state_dict(checkpoint["state_dict"])
        best_epoch = int(checkpoint["epoch"])
    device = trainer.strategy.root_device  # this process's device (one GPU per DDP rank)
    new = np.empty_like(estimates)
    new[train_idx] = predict_estimates(module, train_set, s.batch_size, s.num_workers, device)
    new[val_idx] = predict_estimates(module, val_set, s.batch_size, s.num_workers, device)
    metrics = {key: float(v) for key, v in trainer.callback_metrics.items()}
    summary = {"stage": k, "epochs": trainer.current_epoch, "best_epoch": best_epoch,
               "world_size": trainer.world_size, **metrics}
    return module.net.state_dict(), new, summary
