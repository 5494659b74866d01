"""The ``cascade`` section of ``params.yaml`` as a typed object (every key documented there)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, ClassVar

from facealign.config import AT_LEAST_ONE, FRACTION, NON_NEGATIVE, POSITIVE, Range, section_fields
from facealign.data.augment import AugmentSettings
from facealign.models.lr_schedules import OptimConfig


@dataclass(frozen=True)
class CascadeSettings:
    """Settings of one cascade training; see the comments in ``params.yaml``."""

    stages: int = 3
    input_size: int = 64
    crop_scale: float = 1.4
    crop_shift: float = 0.1
    box_jitter: float = 0.05
    param_noise: float = 0.5
    cache_pncc: bool = True
    cache_images: bool = True
    val_fraction: float = 0.1
    seed: int = 0
    warm_start: bool = True
    select_best: bool = True
    loss: str | list[str] = "vdc"
    loss_vertices: int = 132
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    schedule_knobs: dict[str, Any] = field(default_factory=dict)
    nan_check_every: int = 1
    max_epochs: int | list[int] = 12
    batch_size: int = 32
    num_workers: int = 2
    torch_threads: int = 0
    accelerator: str = "auto"
    devices: int | str | list[int] = 1
    strategy: str = "auto"
    precision: str = "32-true"
    sync_batchnorm: bool = False
    limit_train_batches: float | int = 1.0
    limit_val_batches: float | int = 1.0
    progress_bar: bool = False
    mlflow: bool = True
    output: str = "models/cascade"
    work_dir: str = "models/cascade_work"
    test_time_flip: bool = False
    net: dict[str, Any] = field(default_factory=dict)
    augment: AugmentSettings = field(default_factory=AugmentSettings)

    LIMITS: ClassVar[dict[str, Range]] = {
        "stages": AT_LEAST_ONE, "input_size": AT_LEAST_ONE, "crop_scale": POSITIVE,
        "box_jitter": NON_NEGATIVE, "param_noise": NON_NEGATIVE, "val_fraction": FRACTION,
        "loss_vertices": NON_NEGATIVE, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "momentum": FRACTION, "nan_check_every": AT_LEAST_ONE, "max_epochs": AT_LEAST_ONE,
        "batch_size": AT_LEAST_ONE, "num_workers": NON_NEGATIVE, "torch_threads": NON_NEGATIVE,
        "limit_train_batches": POSITIVE, "limit_val_batches": NON_NEGATIVE,
    }

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> CascadeSettings:
        """From ``cfg["cascade"]``; an unknown key is a :class:`ConfigError` naming it.

        ``net`` stays a dict here (:meth:`facealign.models.cascade_net.NetConfig.from_section`
        reads it); ``augment`` (the training crops' augmentation) is read as
        :class:`~facealign.data.augment.AugmentSettings` (absent: its defaults).
        """
        values = section_fields(cls, section, "cascade")
        values["augment"] = AugmentSettings.from_section(values.get("augment"), "cascade.augment")
        settings = cls(**values)
        if settings.stages < 1:
            raise ValueError("cascade.stages must be at least 1")
        for key in ("max_epochs", "loss"):
            value = getattr(settings, key)
            if isinstance(value, list) and len(value) < settings.stages:
                raise ValueError(f"cascade.{key} lists {len(value)} stages, "
                                 f"cascade.stages is {settings.stages}")
        return settings

    def epochs(self, stage: int) -> int:
        """Epochs of stage ``stage`` (``max_epochs`` is one number or one per stage)."""
        return int(self.max_epochs[stage] if isinstance(self.max_epochs, list) else self.max_epochs)

    def loss_of(self, stage: int) -> str:
        """The loss of stage ``stage`` (``loss`` is one name or one per stage)."""
        return str(self.loss[stage] if isinstance(self.loss, list) else self.loss)

    def optim(self) -> OptimConfig:
        return OptimConfig(optimizer=self.optimizer, lr=float(self.lr), weight_decay=float(self.weight_decay),
                           momentum=float(self.momentum), schedule=self.schedule,
                           schedule_knobs=dict(self.schedule_knobs or {}),
                           nan_check_every=int(self.nan_check_every))

    def threads(self) -> int:
        """Torch threads of the training process: ``torch_threads``, or (0) the cores left
        after the DataLoader workers, shared among the local DDP processes."""
        if self.torch_threads > 0:
            return int(self.torch_threads)
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        local = self.devices if isinstance(self.devices, int) and self.accelerator == "cpu" else 1
        return max(1, (cores - self.num_workers) // max(local, 1))
