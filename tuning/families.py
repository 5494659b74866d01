"""How a trial's hyperparameters reach a model family's ``train(cfg, callbacks, trainer_overrides)``.

A :class:`Family` knows the family's training entry, the metric it validates with, the
config keys a trial sets, where ``train`` writes the model and its resumable work, and
the data it needs.  Trials write only inside their own trial directory and never talk to
MLflow themselves (the driver is the one MLflow writer, :mod:`tuning.mlflow_logging`).

Under PBT the configured learning rate is a fixed reference (:data:`PBT_REFERENCE_LR`) and
:class:`tuning.reporting.LearningRateOverride` sets the trial's real rate when training
starts, so that a checkpoint taken under one rate resumes under a mutated one: the
family's resume fingerprint does not see the rate.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuning.search_space import schedule_knobs

PBT_REFERENCE_LR = 1.0e-3
MISSING_DATA = "{path}: not found; create the pipeline's data first with `dvc repro {stage}`"


@dataclass(frozen=True)
class Family:
    """One model family as seen by the sweeps.

    Attributes:
        name: ``cascade`` or ``dff``.
        train_entry: ``"module:function"`` of the family's training entry.
        metric: the validation metric the trials report and the sweep minimises.
        registrable: whether the saved model is an aligner the registry accepts.
    """

    name: str
    train_entry: str
    metric: str
    registrable: bool

    def required_inputs(self, cfg: dict) -> list[tuple[Path, str]]:
        """``(path, dvc stage that makes it)`` of every input training reads."""
        face_model = (Path(cfg["paths"]["face_model"]), "build_face_model")
        if self.name == "cascade":
            return [face_model, (Path(cfg["paths"]["data"]) / "train", "synthesize")]
        return [face_model, (Path(cfg["segment"]["output"]), "segment"),
                (Path(cfg["paths"]["dff_data"]) / "train", "synthesize_dff")]

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

    def train_section(self, cfg: dict) -> dict:
        """The config section the family's ``train`` reads its settings from."""
        return cfg["cascade"] if self.name == "cascade" else cfg["dff"]

    def n_fits(self, cfg: dict) -> int:
        """``trainer.fit`` calls one training makes (one per cascade stage)."""
        return int(cfg["cascade"]["stages"]) if self.name == "cascade" else 1

    def model_dir(self, cfg: dict) -> Path:
        """Where ``train`` writes the model."""
        return Path(cfg["cascade"]["output"] if self.name == "cascade" else cfg["dff"]["output"])

    def work_dir(self, cfg: dict) -> Path:
        """The folder whose content lets ``train`` resume (a PBT checkpoint snapshots it)."""
        section = cfg["cascade"] if self.name == "cascade" else cfg["dff"]["train"]
        return Path(section["work_dir" if self.name == "cascade" else "checkpoint_dir"])

    def resume_checkpoint(self, fit_index: int) -> str:
        """Where, inside :meth:`work_dir`, ``train`` finds the checkpoint to resume fit ``fit_index``."""
        return f"stage{fit_index}/last.ckpt" if self.name == "cascade" else "last.ckpt"

    def trial_config(self, cfg: dict, trial: dict[str, Any], max_epochs: int, trial_dir: str | Path,
                     accelerator: str, threads: int, pbt: bool, rank: int = 0) -> dict:
        """``cfg`` with the trial's hyperparameters and trial-local outputs set.

        Data-parallel workers share the work dir (the family writes it from rank 0 only)
        but each writes its model to its own folder; rank 0's is the trial's model.
        """
        cfg = copy.deepcopy(cfg)
        trial_dir = Path(trial_dir)
        model_dir = str(trial_dir / ("model" if rank == 0 else f"model-rank{rank}"))
        lr = PBT_REFERENCE_LR if pbt else float(trial["lr"])
        if self.name == "cascade":
            c = cfg["cascade"]
            c.update(lr=lr, weight_decay=float(trial["weight_decay"]), batch_size=int(trial["batch_size"]),
                     schedule=trial["schedule"], schedule_knobs=schedule_knobs(trial, max_epochs),
                     seed=int(trial["seed"]), max_epochs=int(max_epochs), mlflow=False,
                     output=model_dir, work_dir=str(trial_dir / "work"),
                     accelerator=accelerator, torch_threads=int(threads), progress_bar=False)
        else:
            t = cfg["dff"]["train"]
            t.update(lr=lr, weight_decay=float(trial["weight_decay"]), batch_size=int(trial["batch_size"]),
                     seed=int(trial["seed"]) % (2**31), max_epochs=int(max_epochs), accelerator=accelerator,
                     resume=True, checkpoint_dir=str(trial_dir / "work"), max_minutes=None)
            if "warmup_fraction" in trial:
                t["warmup_fraction"] = float(trial["warmup_fraction"])
            cfg["dff"]["output"] = model_dir
        return cfg

    def isolate_tracking(self, trial_dir: str | Path) -> None:
        """Keep the family's own MLflow logging (if any) out of the sweep's store.

        The cascade is told ``cascade.mlflow: false``; DFF's ``train`` always opens a run,
        so it gets a throw-away store inside the trial directory.
        """
        if self.name == "dff":
            Path(trial_dir).mkdir(parents=True, exist_ok=True)
            os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{Path(trial_dir) / 'mlflow-scratch.db'}"


FAMILIES: dict[str, Family] = {
    "cascade": Family("cascade", "facealign.training.cascade:train", "val_nme", registrable=True),
    "dff": Family("dff", "facealign.training.dff:train", "val_loss", registrable=False),
}


def get_family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r} (have: {', '.join(FAMILIES)})")
    return FAMILIES[name]
