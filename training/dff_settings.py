"""The ``dff`` section of ``params.yaml`` as typed, frozen dataclasses (every key documented there).

Each subsection is read by :func:`facealign.config.section_fields`, so an unknown key is a
:class:`facealign.config.ConfigError` naming it and its dotted section
(``dff.train: unknown parameter 'lrr' (known: ...)``).  The defaults are the values of
``params.yaml``'s base (``default`` preset) ``dff`` section.  Light at import time
(:mod:`training.dff` is imported by the tuning driver).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from facealign.config import (
    AT_LEAST_ONE,
    FRACTION,
    NON_NEGATIVE,
    POSITIVE,
    ConfigError,
    Range,
    section_fields,
)
from facealign.data.augment import AugmentSettings

CLASS_VECTOR_INITS = ("geometric", "random")


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _read(cls: type, section: Mapping[str, Any] | None, name: str,
          convert: Mapping[str, Callable[[Any], Any]]) -> Any:
    """``cls`` from ``section`` (strictly checked), each value passed through ``convert[key]``."""
    values = section_fields(cls, section, name)
    return cls(**{k: convert.get(k, lambda v: v)(v) for k, v in values.items()})


@dataclass(frozen=True)
class DFFNetSettings:
    """``dff.net``: the U-Net (:class:`facealign.models.dff_extractor.DFFUNet`).

    Attributes:
        dim: descriptor length (channels of the output map).
        widths: U-Net channels per level, finest first.
    """

    dim: int = 32
    widths: tuple[int, ...] = (8, 16, 32, 64, 128)

    LIMITS: ClassVar[dict[str, Range]] = {"dim": AT_LEAST_ONE, "widths": AT_LEAST_ONE}

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> DFFNetSettings:
        return _read(cls, section, "dff.net", {"dim": int, "widths": lambda v: tuple(int(w) for w in v)})


@dataclass(frozen=True)
class DFFLossSettings:
    """``dff.loss``: the angular-softmax patch classification loss.

    Attributes:
        scale: s in the logits ``s * cos(theta)`` (margin m = 1).
        init: class vectors, ``geometric`` (a shared smooth surface embedding) or ``random``.
        init_bandwidth: smoothness of the geometric init, fraction of the mesh extent.
        pixels_per_image: face pixels sampled per image per step.
    """

    scale: float = 16.0
    init: str = "geometric"
    init_bandwidth: float = 0.6
    pixels_per_image: int = 256

    LIMITS: ClassVar[dict[str, Range]] = {"scale": POSITIVE, "init_bandwidth": POSITIVE,
                                          "pixels_per_image": AT_LEAST_ONE}

    def __post_init__(self) -> None:
        if self.init not in CLASS_VECTOR_INITS:
            raise ConfigError(f"dff.loss.init must be 'random' or 'geometric', got {self.init!r}")

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> DFFLossSettings:
        return _read(cls, section, "dff.loss", {"scale": float, "init": str, "init_bandwidth": float,
                                                "pixels_per_image": int})


@dataclass(frozen=True)
class DFFTrainSettings:
    """``dff.train``: the Lightning training.

    Attributes:
        batch_size: images per step.
        max_epochs: epochs.
        lr: AdamW learning rate; weight_decay: its decoupled weight decay.
        warmup_fraction: fraction of the steps with a linear learning-rate warm-up.
        val_fraction: fraction of the training views held out for validation.
        color_jitter: per-channel gain change, fraction.
        augment: photometric / cut-out augmentation of the training images after
            ``color_jitter`` (``dff.train.augment``, see :mod:`facealign.data.augment`); off by
            default, as measured best for DFF-SDM within the 40-epoch budget.
        num_workers: DataLoader worker processes.
        accelerator: Lightning accelerator (``auto`` | ``cpu`` | ``gpu``).
        precision: Lightning precision, as given (e.g. ``32`` or ``"bf16-mixed"``).
        max_minutes: wall-clock cap on training, minutes (None or 0: none).
        resume: continue an interrupted run from ``checkpoint_dir/last.ckpt``.
        checkpoint_dir: the folder of the resumable checkpoint.
        seed: the seed of the whole training.
    """

    batch_size: int = 4
    max_epochs: int = 40
    lr: float = 0.003
    weight_decay: float = 0.0001
    warmup_fraction: float = 0.05
    val_fraction: float = 0.1
    color_jitter: float = 0.15
    num_workers: int = 0
    accelerator: str = "auto"
    precision: int | str = 32
    max_minutes: float | None = 7.0
    resume: bool = True
    checkpoint_dir: str = "checkpoints/dff"
    seed: int = 5
    augment: AugmentSettings = field(default_factory=AugmentSettings.off)

    LIMITS: ClassVar[dict[str, Range]] = {
        "batch_size": AT_LEAST_ONE, "max_epochs": AT_LEAST_ONE, "lr": POSITIVE, "weight_decay": NON_NEGATIVE,
        "warmup_fraction": FRACTION, "val_fraction": FRACTION, "color_jitter": NON_NEGATIVE,
        "num_workers": NON_NEGATIVE, "max_minutes": POSITIVE,
    }

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> DFFTrainSettings:
        ints = dict.fromkeys(("batch_size", "max_epochs", "num_workers", "seed"), int)
        floats = dict.fromkeys(("lr", "weight_decay", "warmup_fraction", "val_fraction", "color_jitter"),
                               float)
        return _read(cls, section, "dff.train", {**ints, **floats, "max_minutes": _optional_float,
                                                 "resume": bool, "checkpoint_dir": str,
                                                 "augment": lambda v: AugmentSettings.from_section(
                                                     v, "dff.train.augment")})


@dataclass(frozen=True)
class DFFSettings:
    """The ``dff`` section: the Deep Face Feature U-Net's data, network, loss and training.

    Attributes:
        data: ``dff.data``, overrides of ``synthesize.*`` keys for the DFF training views
            (laid over ``cfg["synthesize"]`` by ``facealign synthesize --profile dff``).
        net, loss, train: the subsections.
        output: the exported extractor directory.
    """

    data: dict[str, Any] = field(default_factory=lambda: {"n_train": 400, "image_size": 128, "seed": 3})
    net: DFFNetSettings = field(default_factory=DFFNetSettings)
    loss: DFFLossSettings = field(default_factory=DFFLossSettings)
    train: DFFTrainSettings = field(default_factory=DFFTrainSettings)
    output: str = "models/dff"

    @classmethod
    def from_section(cls, section: Mapping[str, Any]) -> DFFSettings:
        """From ``cfg["dff"]``; an unknown key in any subsection is a :class:`ConfigError`."""
        values = section_fields(cls, section, "dff")
        if "data" in values:
            # dff.data may hold any synthesize.* key: check it as the synthesize section
            from facealign.data.synthesize import SynthesisConfig  # cv2 and numba: import when needed

            section_fields(SynthesisConfig, values["data"], "dff.data", extra=SynthesisConfig.SECTION_EXTRAS)
            values["data"] = dict(values["data"] or {})
        readers = {"net": DFFNetSettings, "loss": DFFLossSettings, "train": DFFTrainSettings}
        for key, reader in readers.items():
            if key in values:
                values[key] = reader.from_section(values[key])
        if "output" in values:
            values["output"] = str(values["output"])
        return cls(**values)

    def synthesis_section(self, synthesize: Mapping[str, Any]) -> dict[str, Any]:
        """``synthesize`` (``cfg["synthesize"]``) laid over with :attr:`data`, as
        ``facealign synthesize --profile dff`` renders the DFF training views."""
        return {**synthesize, **self.data}


SEGMENT_METRICS = ("graph", "euclidean")


@dataclass(frozen=True)
class SegmentSettings:
    """The ``segment`` section: the random CVT segmentations of the mean mesh whose patches
    label DFF's training pixels (:func:`facegeom.mesh_segmentation.random_segmentations`).

    Attributes:
        n_segmentations: S segmentations; n_patches: P patches each.
        lloyd_iterations: Lloyd relaxation steps; metric: ``graph`` | ``euclidean``.
        seed: the random seed; output: the ``.npz`` written.
    """

    n_segmentations: int = 16
    n_patches: int = 128
    lloyd_iterations: int = 10
    metric: str = "graph"
    seed: int = 2
    output: str = "models/segmentations.npz"

    LIMITS: ClassVar[dict[str, Range]] = {"n_segmentations": AT_LEAST_ONE, "n_patches": AT_LEAST_ONE,
                                          "lloyd_iterations": NON_NEGATIVE}

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None) -> SegmentSettings:
        """From ``cfg["segment"]``; a wrong key, type or range is a :class:`ConfigError` naming it."""
        settings = _read(cls, section, "segment", {})
        if settings.metric not in SEGMENT_METRICS:
            known = ", ".join(SEGMENT_METRICS)
            raise ConfigError(f"segment.metric: {settings.metric!r} is not one of {known}")
        return settings
