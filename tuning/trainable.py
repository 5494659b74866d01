"""The trial function: one configuration of the search space, trained by the family's ``train``.

With one worker per trial the trial trains in its own Ray actor, a plain Lightning trainer
reporting through :class:`tuning.reporting.EpochReporter` (the lighter path).  With
``workers_per_trial > 1`` the trial is a Ray Train V2 driver: it builds a ``TorchTrainer``
whose workers run the same ``train`` under Lightning DDP (gloo on CPU, NCCL on GPU) and
whose results reach Tune through Ray's ``TuneReportCallback``.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuning.families import Family
from tuning.reporting import EpochReporter, LearningRateOverride, ReportFn, read_progress

WORK_SNAPSHOT = "work"


@dataclass(frozen=True)
class TrialSpec:
    """What every trial of one sweep shares (passed once through ``tune.with_parameters``).

    Attributes:
        family: the model family.
        base_cfg: the pipeline configuration with the sweep's ``train_overrides`` applied.
        max_epochs: epochs per training (per cascade stage).
        cpus, gpus, workers: resources of one trial (see :class:`tuning.settings.SweepSettings`).
        pbt: attach a resumable snapshot to every report (Population Based Training).
        storage: storage path of the Ray Train runs of data-parallel trials.
        train_fn: the training entry; None runs ``family.train`` (tests pass a stand-in).
        quiet: keep Lightning's informational lines out of the console (warnings still show).
    """

    family: Family
    base_cfg: dict
    max_epochs: int
    cpus: float = 1.0
    gpus: float = 0.0
    workers: int = 1
    pbt: bool = False
    storage: str = ""
    train_fn: Callable[..., Any] | None = None
    quiet: bool = True

    def resolve_train_fn(self) -> Callable[..., Any]:
        """``train(cfg, callbacks, trainer_overrides)`` of a trial: the stand-in, else the family's."""
        return self.train_fn if self.train_fn is not None else self.family.train


def run_trial(config: dict[str, Any], spec: TrialSpec) -> None:
    """Tune's function trainable (bind ``spec`` with ``tune.with_parameters``)."""
    _quiet_lightning(spec.quiet)
    if spec.workers > 1:
        _drive_data_parallel(config, spec)
    else:
        _train_in_actor(config, spec)


def _quiet_lightning(quiet: bool) -> None:
    """Lightning's per-fit INFO lines ("GPU available ...") times many trials are noise."""
    import logging

    if quiet:
        for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _accelerator(gpu_ids: list[Any]) -> str:
    import torch

    return "gpu" if gpu_ids and torch.cuda.is_available() else "cpu"


def _snapshotter(family: Family, cfg: dict) -> Callable[[Any, int], str]:
    """``snapshot(trainer, fit_index) -> folder`` holding the family's work dir, resumable now."""
    work_dir = family.work_dir(cfg)

    def snapshot(trainer: Any, fit_index: int) -> str:
        folder = Path(tempfile.mkdtemp(prefix="tune-pbt-"))
        target = folder / WORK_SNAPSHOT
        if work_dir.is_dir():
            shutil.copytree(work_dir, target, ignore=shutil.ignore_patterns("*.ckpt"))
        trainer.save_checkpoint(str(target / family.resume_checkpoint(fit_index)))  # collective in DDP
        return str(folder)

    return snapshot


def _restore_snapshot(checkpoint: Any, work_dir: Path) -> dict[str, int] | None:
    """Put a PBT snapshot's work dir in place so that ``train`` resumes from it.

    Returns the snapshot's progress (for :class:`EpochReporter`), None when starting afresh.
    """
    shutil.rmtree(work_dir, ignore_errors=True)
    if checkpoint is None:
        return None
    with checkpoint.as_directory() as folder:
        source = Path(folder) / WORK_SNAPSHOT
        if source.is_dir():
            shutil.copytree(source, work_dir)
        return read_progress(folder)


def _tune_report(metrics: dict[str, Any], folder: str | None) -> None:
    from ray import tune

    tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(folder) if folder else None)


def _callbacks(spec: TrialSpec, cfg: dict, config: dict, report: ReportFn,
               progress: dict[str, int] | None = None) -> tuple[EpochReporter, list]:
    reporter = EpochReporter(report, spec.family.metric, n_fits=spec.family.n_fits(cfg),
                             snapshot=_snapshotter(spec.family, cfg) if spec.pbt else None, progress=progress)
    extra = [LearningRateOverride(float(config["lr"]))] if spec.pbt else []
    return reporter, [reporter, *extra]


def _train_in_actor(config: dict[str, Any], spec: TrialSpec) -> None:
    import ray
    from ray import tune

    trial_dir = Path(tune.get_context().get_trial_dir()) / "run"
    cfg = spec.family.trial_config(spec.base_cfg, config, spec.max_epochs, trial_dir,
                                   _accelerator(ray.get_gpu_ids()), max(1, int(spec.cpus)), spec.pbt)
    spec.family.isolate_tracking(trial_dir)
    progress = _restore_snapshot(tune.get_checkpoint() if spec.pbt else None, spec.family.work_dir(cfg))
    reporter, callbacks = _callbacks(spec, cfg, config, _tune_report, progress)
    spec.resolve_train_fn()(cfg, callbacks=callbacks, trainer_overrides={"enable_progress_bar": False})
    reporter.finish(spec.family.model_dir(cfg))


def _drive_data_parallel(config: dict[str, Any], spec: TrialSpec) -> None:
    """Run the trial as a Ray Train V2 job of ``spec.workers`` DDP workers."""
    import ray.train
    from ray import tune
    from ray.train.torch import TorchTrainer
    from ray.tune.integration.ray_train import TuneReportCallback

    from tuning.settings import DRIVER_CPU_SHARE

    trial_id = tune.get_context().get_trial_id()
    trial_dir = Path(tune.get_context().get_trial_dir()) / "run"
    shutil.rmtree(trial_dir, ignore_errors=True)  # a retried trial starts afresh
    per_worker = {"CPU": (spec.cpus - DRIVER_CPU_SHARE) / spec.workers}
    if spec.gpus:
        per_worker["GPU"] = spec.gpus / spec.workers
    trainer = TorchTrainer(
        _data_parallel_worker,
        train_loop_config={"config": config, "spec": spec, "trial_dir": str(trial_dir)},
        scaling_config=ray.train.ScalingConfig(num_workers=spec.workers, use_gpu=bool(spec.gpus),
                                               resources_per_worker=per_worker),
        run_config=ray.train.RunConfig(name=f"train-{trial_id}-{uuid.uuid4().hex[:6]}",
                                       storage_path=spec.storage, callbacks=[TuneReportCallback()]),
    )
    trainer.fit()


def _data_parallel_worker(loop_config: dict[str, Any]) -> None:
    """One DDP worker: the family's ``train`` with Ray's Lightning strategy and environment."""
    import ray.train
    import torch
    from pytorch_lightning.utilities.rank_zero import rank_zero_only
    from ray.train.lightning import RayDDPStrategy, RayLightningEnvironment

    config, spec = loop_config["config"], loop_config["spec"]
    _quiet_lightning(spec.quiet)
    rank = ray.train.get_context().get_world_rank()
    rank_zero_only.rank = rank  # Lightning read the rank before Ray Train set RANK
    accelerator = "gpu" if spec.gpus and torch.cuda.is_available() else "cpu"
    trial_dir = Path(loop_config["trial_dir"])
    cfg = spec.family.trial_config(spec.base_cfg, config, spec.max_epochs, trial_dir, accelerator,
                                   max(1, int(spec.cpus / spec.workers)), pbt=False, rank=rank)
    spec.family.isolate_tracking(trial_dir)

    def report(metrics: dict[str, Any], folder: str | None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(folder) if folder and rank == 0 else None
        ray.train.report(metrics, checkpoint=checkpoint)

    reporter, callbacks = _callbacks(spec, cfg, config, report)
    overrides = {"strategy": RayDDPStrategy(), "plugins": [RayLightningEnvironment()], "devices": "auto",
                 "accelerator": accelerator, "enable_progress_bar": False}
    spec.resolve_train_fn()(cfg, callbacks=callbacks, trainer_overrides=overrides)
    reporter.finish(spec.family.model_dir(cfg) if rank == 0 else None)
