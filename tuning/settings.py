"""The settings of one sweep: the ``tune:`` section of ``params.yaml`` laid under the flags.

Every flag of ``python tuning/sweep.py`` has its default in ``tune:``; a flag given on the
command line wins.  The resolved settings are saved beside the sweep's results
(``sweep.json``) so that ``--resume`` continues with exactly the settings it started with.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCHEDULERS = ("asha", "pbt", "fifo")
MODELS = ("cascade", "dff")
DRIVER_CPU_SHARE = 0.01  # CPUs a data-parallel trial keeps for itself (it only drives Ray Train)


class SettingsError(ValueError):
    """A sweep setting that cannot work; the message names it."""


def is_uri(path: str) -> bool:
    """True for remote storage such as ``s3://bucket/path`` (kept as given)."""
    return "://" in path


@dataclass(frozen=True)
class SweepSettings:
    """Everything a sweep needs besides the pipeline configuration.

    Resources are per trial: with ``workers_per_trial = w > 1`` each of the w data-parallel
    workers gets ``cpus_per_trial / w`` CPUs and ``gpus_per_trial / w`` GPUs.
    """

    model: str = "cascade"
    num_samples: int = 8
    max_epochs: int = 4
    scheduler: str = "asha"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    workers_per_trial: int = 1
    address: str | None = None
    storage_path: str = "tuning/results"
    results_dir: str = "tuning/results"
    experiment: str = ""
    seed: int = 0
    max_failures: int = 2
    max_concurrent_trials: int | None = None
    space_file: str | None = None
    register: bool = True
    asha: dict[str, Any] = field(default_factory=lambda: {"grace_period": 1, "reduction_factor": 2})
    pbt: dict[str, Any] = field(default_factory=lambda: {"perturbation_interval": 1,
                                                         "quantile_fraction": 0.25,
                                                         "resample_probability": 0.25})
    train_overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def experiment_dir(self) -> Path:
        """The local folder with ``sweep.json`` and ``best.json``."""
        return Path(self.results_dir) / self.experiment

    @property
    def tune_storage(self) -> str:
        """Where Tune keeps this experiment's runs (``<storage_path>/<experiment>``)."""
        return f"{self.storage_path.rstrip('/')}/{self.experiment}"

    def worker_resources(self) -> dict[str, float]:
        """Ray resources of one data-parallel worker (only used when ``workers_per_trial > 1``)."""
        w = self.workers_per_trial
        out = {"CPU": (self.cpus_per_trial - DRIVER_CPU_SHARE) / w}
        if self.gpus_per_trial:
            out["GPU"] = self.gpus_per_trial / w
        return out

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SweepSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def validate(self) -> SweepSettings:
        """Raise :class:`SettingsError` for settings that cannot run; returns self."""
        if self.model not in MODELS:
            raise SettingsError(f"--model: unknown {self.model!r} (have: {', '.join(MODELS)})")
        if self.scheduler not in SCHEDULERS:
            raise SettingsError(f"--scheduler: unknown {self.scheduler!r} (have: {', '.join(SCHEDULERS)})")
        for name in ("num_samples", "max_epochs", "workers_per_trial"):
            if int(getattr(self, name)) < 1:
                raise SettingsError(f"--{name.replace('_', '-')} must be at least 1")
        if self.max_failures < 0:
            raise SettingsError("tune.max_failures must be 0 or more")
        if self.gpus_per_trial < 0:
            raise SettingsError("--gpus-per-trial must be 0 or more")
        w = self.workers_per_trial
        if self.cpus_per_trial <= (DRIVER_CPU_SHARE if w > 1 else 0):
            raise SettingsError("--cpus-per-trial must be more than 0")
        if w > 1 and self.gpus_per_trial and (self.gpus_per_trial / w) % 1:
            raise SettingsError(
                f"--gpus-per-trial {self.gpus_per_trial} over {w} workers gives each worker a fraction "
                f"of a GPU; NCCL needs one whole GPU per worker (use a multiple of {w})")
        if self.scheduler == "pbt" and self.num_samples < 2:
            raise SettingsError("--scheduler pbt needs at least 2 samples (it copies good trials)")
        if self.scheduler == "pbt" and w > 1:
            raise SettingsError("--scheduler pbt resumes trials from Tune checkpoints, which data-parallel "
                                "trials do not report: use --workers-per-trial 1 with pbt")
        if not self.experiment or "/" in self.experiment:
            raise SettingsError(f"--experiment: {self.experiment!r} is not a valid name")
        return self


def resolve(section: dict[str, Any], flags: dict[str, Any]) -> SweepSettings:
    """Settings from the ``tune:`` section, then every flag that is not None.

    Relative local paths become absolute (Ray needs absolute storage paths); ``RAY_ADDRESS``
    is the default address.
    """
    known = {f.name for f in dataclasses.fields(SweepSettings)}
    unknown = set(section) - known - {"train_overrides"}
    if unknown:
        raise SettingsError(f"params.yaml tune: unknown key(s) {sorted(unknown)} (have: {sorted(known)})")
    values: dict[str, Any] = {k: v for k, v in section.items() if k in known and v is not None}
    values.update({k: v for k, v in flags.items() if k in known and v is not None})
    model = values.get("model", SweepSettings.model)
    overrides = section.get("train_overrides") or {}
    values["train_overrides"] = dict(overrides.get(model) or {})
    values.setdefault("experiment", f"sweep-{model}")
    values["address"] = values.get("address") or os.environ.get("RAY_ADDRESS") or None
    for key in ("storage_path", "results_dir"):
        if key in values and not is_uri(str(values[key])):
            values[key] = str(Path(values[key]).expanduser().resolve())
    for key in ("num_samples", "max_epochs", "workers_per_trial", "seed", "max_failures"):
        if key in values:
            values[key] = int(values[key])
    for key in ("cpus_per_trial", "gpus_per_trial"):
        if key in values:
            values[key] = float(values[key])
    defaults = SweepSettings()
    for key in ("storage_path", "results_dir"):
        values.setdefault(key, str(Path(getattr(defaults, key)).resolve()))
    return SweepSettings(**values).validate()
