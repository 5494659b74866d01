"""The optimisers and learning-rate schedules the cascade (and the Ray Tune sweeps) choose from.

:class:`OptimConfig` holds the ``cascade`` section's optimiser and schedule settings and
:func:`build_optimizer` turns it into a torch optimiser with its per-step schedule.

``SCHEDULES`` is a plain dict ``name -> {"builder", "knobs", "doc"}``; ``knobs`` holds each
schedule's tunable settings with their defaults.  :func:`build_scheduler` makes a torch
scheduler that is stepped once per **optimizer step** (Lightning ``interval: "step"``),
so epoch-based schedules are exact for any batch size: epoch ``e`` covers steps
``[e * steps_per_epoch, (e + 1) * steps_per_epoch)``.  Learning rates are factors of the
optimizer's base rate.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR, LRScheduler, OneCycleLR


def _lambda(optimizer: torch.optim.Optimizer, factor: Callable[[int], float]) -> LambdaLR:
    return LambdaLR(optimizer, lambda step: float(factor(step)))


def _paper(optimizer, steps_per_epoch, max_epochs, milestones_epochs, gamma):
    """The paper: base rate (1e-4), x gamma after 15 epochs and again after 15 more."""
    edges = sorted(int(m) * steps_per_epoch for m in milestones_epochs)
    return _lambda(optimizer, lambda s: gamma ** sum(s >= e for e in edges))


def _multistep(optimizer, steps_per_epoch, max_epochs, milestones, gamma):
    """x gamma at each milestone, given as fractions of ``max_epochs``."""
    edges = sorted(round(float(m) * max_epochs * steps_per_epoch) for m in milestones)
    return _lambda(optimizer, lambda s: gamma ** sum(s >= e for e in edges))


def _cosine_factor(t: float, min_factor: float) -> float:
    return min_factor + (1.0 - min_factor) * 0.5 * (1.0 + math.cos(math.pi * min(max(t, 0.0), 1.0)))


def _cosine(optimizer, steps_per_epoch, max_epochs, min_factor):
    """Half a cosine from the base rate to ``min_factor`` times it over the whole run."""
    total = max(steps_per_epoch * max_epochs, 1)
    return _lambda(optimizer, lambda s: _cosine_factor(s / total, min_factor))


def _warmup_cosine(optimizer, steps_per_epoch, max_epochs, warmup_epochs, min_factor):
    """Linear warm-up from ~0 over ``warmup_epochs`` (may be fractional), then cosine."""
    total = max(steps_per_epoch * max_epochs, 1)
    warm = max(round(float(warmup_epochs) * steps_per_epoch), 0)

    def factor(s: int) -> float:
        if s < warm:
            return (s + 1) / warm
        return _cosine_factor((s - warm) / max(total - warm, 1), min_factor)

    return _lambda(optimizer, factor)


def _exponential(optimizer, steps_per_epoch, max_epochs, gamma_per_epoch):
    """x gamma_per_epoch per epoch, applied smoothly per step."""
    return _lambda(optimizer, lambda s: gamma_per_epoch ** (s / max(steps_per_epoch, 1)))


def _one_cycle(optimizer, steps_per_epoch, max_epochs, pct_start, div_factor, final_div_factor):
    """Smith's one-cycle policy peaking at the base rate (torch ``OneCycleLR``)."""
    peaks = [group["lr"] for group in optimizer.param_groups]
    return OneCycleLR(optimizer, max_lr=peaks, total_steps=max(steps_per_epoch * max_epochs, 2),
                      pct_start=pct_start, div_factor=div_factor, final_div_factor=final_div_factor,
                      cycle_momentum=False)


def _constant(optimizer, steps_per_epoch, max_epochs):
    """The base rate throughout."""
    return _lambda(optimizer, lambda s: 1.0)


SCHEDULES: dict[str, dict[str, Any]] = {
    "paper": {"builder": _paper, "knobs": {"milestones_epochs": [15, 30], "gamma": 0.1},
              "doc": _paper.__doc__},
    "multistep": {"builder": _multistep, "knobs": {"milestones": [0.5, 0.75], "gamma": 0.1},
                  "doc": _multistep.__doc__},
    "cosine": {"builder": _cosine, "knobs": {"min_factor": 0.01}, "doc": _cosine.__doc__},
    "one_cycle": {"builder": _one_cycle,
                  "knobs": {"pct_start": 0.3, "div_factor": 25.0, "final_div_factor": 1.0e3},
                  "doc": _one_cycle.__doc__},
    "exponential": {"builder": _exponential, "knobs": {"gamma_per_epoch": 0.8},
                    "doc": _exponential.__doc__},
    "warmup_cosine": {"builder": _warmup_cosine, "knobs": {"warmup_epochs": 1.0, "min_factor": 0.01},
                      "doc": _warmup_cosine.__doc__},
    "constant": {"builder": _constant, "knobs": {}, "doc": _constant.__doc__},
}


def build_scheduler(
    name: str, optimizer: torch.optim.Optimizer, *, steps_per_epoch: int, max_epochs: int, **knobs: Any
) -> LRScheduler:
    """The schedule ``name`` for ``optimizer``, stepped once per optimizer step.

    Args:
        name: a key of :data:`SCHEDULES`.
        optimizer: its ``lr`` is the base (peak) learning rate.
        steps_per_epoch: optimizer steps per epoch (>= 1).
        max_epochs: length of the run in epochs.
        knobs: overrides of the schedule's knobs; unknown names are an error.
    """
    if name not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {name!r} (have: {', '.join(SCHEDULES)})")
    spec = SCHEDULES[name]
    unknown = set(knobs) - set(spec["knobs"])
    if unknown:
        raise ValueError(f"schedule {name!r} has no knob(s) {sorted(unknown)} "
                         f"(knobs: {sorted(spec['knobs'])})")
    settings = {**spec["knobs"], **knobs}
    return spec["builder"](optimizer, max(int(steps_per_epoch), 1), max(int(max_epochs), 1), **settings)


OPTIMIZERS = ("adam", "adamw", "sgd")


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser and schedule settings of the ``cascade`` section (``lr`` is the base rate)."""

    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 5e-4
    momentum: float = 0.9
    schedule: str = "cosine"
    schedule_knobs: dict[str, Any] = field(default_factory=dict)
    nan_check_every: int = 1


def build_optimizer(config: OptimConfig, params: Iterable[torch.nn.Parameter], steps_per_epoch: int,
                    max_epochs: int) -> tuple[torch.optim.Optimizer, LRScheduler]:
    """The optimiser over ``params`` and its schedule, stepped once per optimiser step."""
    if config.optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                              weight_decay=config.weight_decay)
    elif config.optimizer == "adamw":
        opt = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    else:  # Adam's weight_decay adds lambda * W to the gradient: L2 regularisation in the loss
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = build_scheduler(config.schedule, opt, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs,
                                **dict(config.schedule_knobs or {}))
    return opt, scheduler
