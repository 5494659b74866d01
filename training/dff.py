"""Train the Deep Face Feature extractor: the single entry of the DFF family.

Reads the morphable model (``paths.face_model``), the random segmentations
(``segment.output``) and the synthetic training views (``paths.dff_data``/train), trains
:class:`lightning_modules.dff_module.DFFModule` under an MLflow run and exports the U-Net to
``dff.output`` (``dff.json`` + ``weights.pt``, see :mod:`facealign.models.dff_extractor`).

An interrupted run resumes from ``dff.train.checkpoint_dir/last.ckpt`` when
``dff.train.resume`` is true and the checkpoint was made with the same settings; a run
that completes removes its checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from facealign.config import flatten
from training.dff_settings import DFFLossSettings, DFFSettings

FINGERPRINT = "fingerprint.json"


def _fingerprint(cfg: dict, data_dir: Path) -> str:
    """A hash of everything a checkpoint depends on: the dff and segment sections and the data."""
    from facealign.tracking import data_hash

    parts = {**flatten({"dff": cfg["dff"], "segment": cfg["segment"]}),
             "face_model": cfg["paths"]["face_model"], "data": data_hash(data_dir)}
    parts["dff.train.max_minutes"] = None  # a time budget does not change what is trained
    return hashlib.md5(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _resume_path(ckpt_dir: Path, fingerprint: str, enabled: bool) -> Path | None:
    last = ckpt_dir / "last.ckpt"
    stamp = ckpt_dir / FINGERPRINT
    if not enabled or not last.is_file():
        return None
    if not stamp.is_file() or json.loads(stamp.read_text()).get("fingerprint") != fingerprint:
        print(f"{last}: made with other settings or data; training from scratch")
        return None
    print(f"resuming DFF training from {last}")
    return last


def _init_class_vectors(module: Any, model: Any, segs: Any, loss: DFFLossSettings) -> None:
    """Geometric or random class vectors, by ``dff.loss.init`` (see :mod:`angular_softmax`)."""
    import torch

    from facealign.models.angular_softmax import geometric_class_vectors
    from facegeom.mesh_segmentation import triangle_areas, triangle_centroids

    if loss.init == "random":  # DFFLossSettings allows only random | geometric
        return
    vectors = geometric_class_vectors(
        triangle_centroids(model.mean, model.triangles), triangle_areas(model.mean, model.triangles),
        segs.labels, segs.n_patches, module.heads.weight.shape[-1], loss.init_bandwidth)
    with torch.no_grad():
        module.heads.weight.copy_(torch.from_numpy(vectors))


def train(cfg: dict, callbacks: Sequence[Any] | None = None,
          trainer_overrides: dict[str, Any] | None = None) -> dict[str, float]:
    """Train and export the DFF extractor; returns the final metrics.

    Args:
        cfg: the resolved configuration (:func:`facealign.config.load_params`).
        callbacks: extra Lightning callbacks (e.g. Ray Tune's report callback).
        trainer_overrides: keyword arguments laid over the ``pl.Trainer`` settings.
    Returns:
        ``train_loss``, ``val_loss``, ``val_patch_acc`` (those logged), ``epochs`` and
        ``train_seconds``.
    Raises:
        facealign.config.ConfigError: an unknown or invalid ``dff`` parameter.
        FileNotFoundError: the model, segmentations or training data are missing.
        lightning_modules.dff_module.NonFiniteLossError: the loss became NaN / infinite.
    """
    import mlflow
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import MLFlowLogger
    from threadpoolctl import threadpool_limits

    from datamodules.dff_data import MISSING_DATA_HINT, DFFDataModule
    from facealign.models.dff_extractor import save_dff_extractor
    from facealign.tracking import tracking_uri, training_run
    from facegeom.mesh_segmentation import Segmentations
    from facegeom.morphable_model import MorphableModel
    from lightning_modules.dff_module import DFFModule

    s = DFFSettings.from_section(cfg["dff"])
    tr = s.train
    data_dir = Path(cfg["paths"]["dff_data"]) / "train"
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir}: DFF training views not found; {MISSING_DATA_HINT}")
    model = MorphableModel.load(cfg["paths"]["face_model"])
    segs = Segmentations.load(cfg["segment"]["output"])
    pl.seed_everything(tr.seed, workers=True, verbose=False)
    data = DFFDataModule(data_dir, model, segs.labels, pixels_per_image=s.loss.pixels_per_image,
                         batch_size=tr.batch_size, val_fraction=tr.val_fraction,
                         num_workers=tr.num_workers, color_jitter=tr.color_jitter, augment=tr.augment)
    data.setup("fit")
    module = DFFModule(segs.n_segmentations, segs.n_patches, dim=s.net.dim, widths=list(s.net.widths),
                       scale=s.loss.scale, lr=tr.lr, weight_decay=tr.weight_decay,
                       warmup_fraction=tr.warmup_fraction)
    _init_class_vectors(module, model, segs, s.loss)

    ckpt_dir = Path(tr.checkpoint_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    fingerprint = _fingerprint(cfg, data_dir)
    resume = _resume_path(ckpt_dir, fingerprint, tr.resume)
    (ckpt_dir / FINGERPRINT).write_text(json.dumps({"fingerprint": fingerprint}))

    checkpointing = [] if (trainer_overrides or {}).get("enable_checkpointing") is False else [
        ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, enable_version_counter=False)]
    has_val = data.val_set is not None and len(data.val_set) > 0
    with training_run(cfg, run_name="train_dff", family="dff", data_dir=data_dir,
                      nested=mlflow.active_run() is not None) as run:
        logger = MLFlowLogger(experiment_name=cfg["mlflow"]["experiment"], tracking_uri=tracking_uri(cfg),
                              run_id=run.info.run_id)
        settings: dict[str, Any] = {
            "max_epochs": tr.max_epochs, "accelerator": tr.accelerator,
            "precision": tr.precision, "devices": 1, "logger": logger,
            "callbacks": [*checkpointing, *(callbacks or [])],
            "num_sanity_val_steps": 0, "log_every_n_steps": 5,
            "limit_val_batches": 1.0 if has_val else 0,
            "max_time": {"minutes": tr.max_minutes} if tr.max_minutes else None,
            "enable_model_summary": False,
        }
        settings.update(trainer_overrides or {})
        trainer = pl.Trainer(**settings)
        start = time.perf_counter()
        # numpy's BLAS threads (label rasterisation in the loader) spin-wait after each call and
        # steal the cores torch trains on: one BLAS thread took a 2-core step from 158 to 99 ms
        with threadpool_limits(limits=1, user_api="blas"):
            trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None, weights_only=True)
        seconds = time.perf_counter() - start

        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()
                   if k in ("train_loss", "val_loss", "val_patch_acc")}
        metrics.update(epochs=float(trainer.current_epoch), train_seconds=round(seconds, 1))
        mlflow.log_metrics({"final_" + k: v for k, v in metrics.items()})
        out = save_dff_extractor(module.net.cpu(), s.output, int(data.image_size), extra={
            "n_segmentations": segs.n_segmentations, "n_patches": segs.n_patches,
            "loss_scale": s.loss.scale, "train_images": len(data.train_set),
            "metrics": metrics, "mlflow_run_id": run.info.run_id,
        })
        mlflow.log_artifacts(str(out), artifact_path="dff")
    for leftover in (ckpt_dir / "last.ckpt", ckpt_dir / FINGERPRINT):
        leftover.unlink(missing_ok=True)
    return metrics
