"""How a trial's hyperparameters reach a model family's ``train(cfg, callbacks, trainer_overrides)``.

One object per family: :class:`CascadeFamily` and :class:`DFFFamily` implement
:class:`Family`, which holds what they share (checking and resolving the input data, the
trial's model folder and learning rate).  A family knows its training entry, the metric it
validates with, the config keys a trial sets, where ``train`` writes the model and its
resumable work, and the data it needs.  Trials write only inside their own trial directory
and never talk to MLflow themselves (the driver is the one MLflow writer,
:mod:`tuning.mlflow_logging`).

Under PBT the configured learning rate is a fixed reference (:data:`PBT_REFERENCE_LR`) and
:class:`tuning.reporting.LearningRateOverride` sets the trial's real rate when training
starts, so that a checkpoint taken under one rate resumes under a mutated one: the
family's resume fingerprint does not see the rate.
"""

from __future__ import annotations

import copy
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from training import dff as dff_training  # light at import time (torch is imported by its train)
from tuning.search_space import schedule_knobs

PBT_REFERENCE_LR = 1.0e-3
MISSING_DATA = "{path}: not found; create the pipeline's data first with `dvc repro {stage}`"


class Family(ABC):
    """One model family as seen by the sweeps.

    Attributes:
        name: ``cascade`` or ``dff`` (the ``--model`` of a sweep, the family section of ``cfg``).
        metric: the validation metric the trials report and the sweep minimises.
        registrable: whether the saved model is an aligner the registry accepts.
    """

    name: ClassVar[str]
    metric: ClassVar[str]
    registrable: ClassVar[bool]

    @abstractmethod
    def train(self, cfg: dict, callbacks: Sequence[Any] | None = None,
              trainer_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """Run the family's training entry on ``cfg``; returns its metrics."""

    @abstractmethod
    def required_inputs(self, cfg: dict) -> list[tuple[Path, str]]:
        """``(path, dvc stage that makes it)`` of every input training reads."""

    @abstractmethod
    def train_section(self, cfg: dict) -> dict:
        """The config section the family's ``train`` reads its settings from."""

    @abstractmethod
    def n_fits(self, cfg: dict) -> int:
        """``trainer.fit`` calls one training makes."""

    @abstractmethod
    def model_dir(self, cfg: dict) -> Path:
        """Where ``train`` writes the model."""

    @abstractmethod
    def work_dir(self, cfg: dict) -> Path:
        """The folder whose content lets ``train`` resume (a PBT checkpoint snapshots it)."""

    @abstractmethod
    def resume_checkpoint(self, fit_index: int) -> str:
        """Where, inside :meth:`work_dir`, ``train`` finds the checkpoint to resume fit ``fit_index``."""

    @abstractmethod
    def isolate_tracking(self, trial_dir: str | Path) -> None:
        """Keep the family's own MLflow logging (if any) out of the sweep's store."""

    @abstractmethod
    def _set_trial(self, cfg: dict, trial: dict[str, Any], lr: float, max_epochs: int, trial_dir: Path,
                   model_dir: str, accelerator: str, threads: int) -> None:
        """Write the trial's hyperparameters and trial-local outputs into ``cfg`` (a copy) in place."""

    def trial_config(self, cfg: dict, trial: dict[str, Any], max_epochs: int, trial_dir: str | Path,
                     accelerator: str, threads: int, pbt: bool, rank: int = 0) -> dict:
        """``cfg`` with the trial's hyperparameters and trial-local outputs set (``cfg`` is not changed).

        Data-parallel workers share the work dir (``<trial_dir>/work``, written by rank 0
        only) but each writes its model to its own folder; rank 0's, ``<trial_dir>/model``,
        is the trial's model.  Under PBT the rate is :data:`PBT_REFERENCE_LR`.
        """
        cfg = copy.deepcopy(cfg)
        trial_dir = Path(trial_dir)
        model_dir = str(trial_dir / ("model" if rank == 0 else f"model-rank{rank}"))
        lr = PBT_REFERENCE_LR if pbt else float(trial["lr"])
        self._set_trial(cfg, trial, lr, max_epochs, trial_dir, model_dir, accelerator, threads)
        return cfg

    def check_inputs(self, cfg: dict) -> None:
        """Raise FileNotFoundError naming the ``dvc repro`` stage for a missing input."""
        for path, stage in self.required_inputs(cfg):
            if not path.exists():
                raise FileNotFoundError(MISSING_DATA.format(path=path, stage=stage))

    def absolute_inputs(self, cfg: dict) -> dict:
        """A copy of ``cfg`` whose input paths are absolute (trials run in other folders)."""
        cfg = copy.deepcopy(cfg)
        for key in ("face_model", "data", "dff_data"):
            cfg["paths"][key] = str(Path(cfg["paths"][key]).resolve())
        if "output" in cfg.get("segment", {}):
            cfg["segment"]["output"] = str(Path(cfg["segment"]["output"]).resolve())
        return cfg


@dataclass(frozen=True)
class CascadeFamily(Family):
    """The cascade CNN (:func:`training.cascade.train`): an aligner, validated by NME (%)."""

    name: ClassVar[str] = "cascade"
    metric: ClassVar[str] = "val_nme"
    registrable: ClassVar[bool] = True

    def train(self, cfg: dict, callbacks: Sequence[Any] | None = None,
              trainer_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        from training.cascade import train  # imports torch and Lightning: only in the trial

        return train(cfg, callbacks=callbacks, trainer_overrides=trainer_overrides)

    def required_inputs(self, cfg: dict) -> list[tuple[Path, str]]:
        return [(Path(cfg["paths"]["face_model"]), "build_face_model"),
                (Path(cfg["paths"]["data"]) / "train", "synthesize")]

    def train_section(self, cfg: dict) -> dict:
        return cfg["cascade"]

    def n_fits(self, cfg: dict) -> int:
        """One ``trainer.fit`` per cascade stage."""
        return int(cfg["cascade"]["stages"])

    def model_dir(self, cfg: dict) -> Path:
        return Path(cfg["cascade"]["output"])

    def work_dir(self, cfg: dict) -> Path:
        return Path(cfg["cascade"]["work_dir"])

    def resume_checkpoint(self, fit_index: int) -> str:
        return f"stage{fit_index}/last.ckpt"

    def isolate_tracking(self, trial_dir: str | Path) -> None:
        """Nothing to do: the trial config says ``cascade.mlflow: false``."""

    def _set_trial(self, cfg: dict, trial: dict[str, Any], lr: float, max_epochs: int, trial_dir: Path,
                   model_dir: str, accelerator: str, threads: int) -> None:
        cfg["cascade"].update(
            lr=lr, weight_decay=float(trial["weight_decay"]), batch_size=int(trial["batch_size"]),
            schedule=trial["schedule"], schedule_knobs=schedule_knobs(trial, max_epochs),
            seed=int(trial["seed"]), max_epochs=int(max_epochs), mlflow=False,
            output=model_dir, work_dir=str(trial_dir / "work"),
            accelerator=accelerator, torch_threads=int(threads), progress_bar=False)


@dataclass(frozen=True)
class DFFFamily(Family):
    """The Deep Face Feature extractor (:func:`training.dff.train`): not an aligner, validated by loss."""

    name: ClassVar[str] = "dff"
    metric: ClassVar[str] = "val_loss"
    registrable: ClassVar[bool] = False

    def train(self, cfg: dict, callbacks: Sequence[Any] | None = None,
              trainer_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        return dff_training.train(cfg, callbacks=callbacks, trainer_overrides=trainer_overrides)

    def required_inputs(self, cfg: dict) -> list[tuple[Path, str]]:
        return [(Path(cfg["paths"]["face_model"]), "build_face_model"),
                (Path(cfg["segment"]["output"]), "segment"),
                (Path(cfg["paths"]["dff_data"]) / "train", "synthesize_dff")]

    def train_section(self, cfg: dict) -> dict:
        return cfg["dff"]

    def n_fits(self, cfg: dict) -> int:
        return 1

    def model_dir(self, cfg: dict) -> Path:
        return Path(cfg["dff"]["output"])

    def work_dir(self, cfg: dict) -> Path:
        return Path(cfg["dff"]["train"]["checkpoint_dir"])

    def resume_checkpoint(self, fit_index: int) -> str:
        return "last.ckpt"

    def isolate_tracking(self, trial_dir: str | Path) -> None:
        """DFF's ``train`` always opens an MLflow run: give it a throw-away store in the trial folder."""
        Path(trial_dir).mkdir(parents=True, exist_ok=True)
        os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(trial_dir) / 'mlflow-scratch.db'}"

    def _set_trial(self, cfg: dict, trial: dict[str, Any], lr: float, max_epochs: int, trial_dir: Path,
                   model_dir: str, accelerator: str, threads: int) -> None:
        t = cfg["dff"]["train"]
        t.update(lr=lr, weight_decay=float(trial["weight_decay"]), batch_size=int(trial["batch_size"]),
                 seed=int(trial["seed"]) % (2**31), max_epochs=int(max_epochs), accelerator=accelerator,
                 resume=True, checkpoint_dir=str(trial_dir / "work"), max_minutes=None)
        if "warmup_fraction" in trial:
            t["warmup_fraction"] = float(trial["warmup_fraction"])
        cfg["dff"]["output"] = model_dir


FAMILIES: dict[str, Family] = {f.name: f for f in (CascadeFamily(), DFFFamily())}


def get_family(name: str) -> Family:
    """The family called ``name``; ValueError naming it (and the known ones) otherwise."""
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r} (have: {', '.join(FAMILIES)})")
    return FAMILIES[name]
