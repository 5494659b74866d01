"""The search space of the sweeps, declared here in one readable place.

A space is a plain dict.  Each value is a constant or one distribution::

    {"loguniform": [low, high]}   {"uniform": [low, high]}
    {"randint": [low, high]}      {"choice": [a, b, ...]}

For the cascade the space holds the base learning rate ``lr``, the ``schedule`` (names of
:data:`facealign.models.lr_schedules.SCHEDULES`), ``weight_decay``, ``batch_size`` and, under
``knobs``, each schedule's own knobs.  Every schedule's knobs are sampled in every trial (so
all sampling goes through Tune's seeded generator) and a trial uses those of its schedule.
A knob ``{"fractions_of_max_epochs": [f1, f2]}`` becomes epochs ``round(f * max_epochs)``,
which squeezes the paper's step schedule (x0.1 after 15 and 30 of 40 epochs) into a sweep.

``--space FILE`` (or ``tune.space_file``) lays a YAML file of the same shape over the
default: its top-level keys replace the default's, its ``knobs`` replace per schedule.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
EPOCH_FRACTIONS = "fractions_of_max_epochs"
SEED_RANGE = (0, 2**31 - 1)

DEFAULT_SPACES: dict[str, dict[str, Any]] = {
    "cascade": {
        "lr": {"loguniform": [1.0e-4, 3.0e-3]},
        "schedule": {"choice": ["paper", "multistep", "cosine", "one_cycle", "exponential",
                                "warmup_cosine"]},
        "weight_decay": {"loguniform": [1.0e-6, 1.0e-3]},
        "batch_size": {"choice": [16, 32, 64]},
        "knobs": {
            "paper": {"milestones_epochs": {EPOCH_FRACTIONS: [0.375, 0.75]}, "gamma": 0.1},
            "multistep": {"milestones": {"choice": [[0.5, 0.75], [0.3, 0.6, 0.9]]},
                          "gamma": {"uniform": [0.1, 0.5]}},
            "cosine": {"min_factor": {"loguniform": [1.0e-3, 1.0e-1]}},
            "one_cycle": {"pct_start": {"uniform": [0.1, 0.4]}, "div_factor": {"choice": [10.0, 25.0]},
                          "final_div_factor": 1.0e3},
            "exponential": {"gamma_per_epoch": {"uniform": [0.6, 0.95]}},
            "warmup_cosine": {"warmup_epochs": {"uniform": [0.25, 1.0]},
                              "min_factor": {"loguniform": [1.0e-3, 1.0e-1]}},
        },
    },
    # The DFF module has one schedule (linear warm-up, then cosine); its knob is the warm-up.
    "dff": {
        "lr": {"loguniform": [3.0e-4, 1.0e-2]},
        "weight_decay": {"loguniform": [1.0e-6, 1.0e-3]},
        "batch_size": {"choice": [8, 16]},
        "warmup_fraction": {"uniform": [0.0, 0.2]},
    },
}


class SpaceError(ValueError):
    """A search space that cannot be sampled; the message names the key."""


def load_space(model: str, path: str | Path | None = None) -> dict[str, Any]:
    """The default space of ``model`` with the YAML file at ``path`` laid over it, validated."""
    space = copy.deepcopy(DEFAULT_SPACES[model])
    if path:
        path = Path(path)
        if not path.is_file():
            raise SpaceError(f"{path}: search-space file not found")
        override = yaml.safe_load(path.read_text()) or {}
        if not isinstance(override, dict):
            raise SpaceError(f"{path}: a search space is a mapping of parameter -> value")
        knobs = override.pop("knobs", None)
        space.update(override)
        if knobs:
            space.setdefault("knobs", {}).update(knobs)
    validate(space, model)
    return space


def _check_value(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        return
    if len(value) != 1 or next(iter(value)) not in (*DISTRIBUTIONS, EPOCH_FRACTIONS):
        raise SpaceError(f"{where}: expected a constant or one of {DISTRIBUTIONS}, got {value!r}")
    kind, args = next(iter(value.items()))
    if not isinstance(args, list) or not args:
        raise SpaceError(f"{where}: {kind} takes a list, got {args!r}")
    if kind in ("loguniform", "uniform", "randint") and (len(args) != 2 or not args[0] < args[1]):
        raise SpaceError(f"{where}: {kind} takes [low, high] with low < high, got {args!r}")
    if kind == "loguniform" and args[0] <= 0:
        raise SpaceError(f"{where}: loguniform needs a positive low bound, got {args!r}")


def validate(space: dict[str, Any], model: str) -> None:
    """Raise :class:`SpaceError` for unknown schedules or knobs and malformed distributions."""
    for key in ("lr", "weight_decay", "batch_size"):
        if key not in space:
            raise SpaceError(f"search space: {key!r} is missing")
    for key, value in space.items():
        if key != "knobs":
            _check_value(value, f"search space: {key}")
    if model != "cascade":
        return
    from facealign.models.lr_schedules import SCHEDULES

    schedule = space.get("schedule")
    names = schedule["choice"] if isinstance(schedule, dict) else [schedule]
    for name in names:
        if name not in SCHEDULES:
            raise SpaceError(f"search space: unknown schedule {name!r} (have: {', '.join(SCHEDULES)})")
    for name, knobs in (space.get("knobs") or {}).items():
        if name not in SCHEDULES:
            raise SpaceError(f"search space: knobs for unknown schedule {name!r}")
        for knob, value in (knobs or {}).items():
            if knob not in SCHEDULES[name]["knobs"]:
                raise SpaceError(f"search space: schedule {name!r} has no knob {knob!r} "
                                 f"(knobs: {sorted(SCHEDULES[name]['knobs'])})")
            _check_value(value, f"search space: knobs.{name}.{knob}")


def _to_tune(value: Any) -> Any:
    from ray import tune

    if isinstance(value, dict) and len(value) == 1 and next(iter(value)) in DISTRIBUTIONS:
        kind, args = next(iter(value.items()))
        if kind == "choice":
            return tune.choice(args)
        if kind == "randint":
            return tune.randint(int(args[0]), int(args[1]) + 1)  # inclusive high, as written
        return getattr(tune, kind)(float(args[0]), float(args[1]))
    if isinstance(value, dict):
        return {k: _to_tune(v) for k, v in value.items()}
    return value


def to_param_space(space: dict[str, Any]) -> dict[str, Any]:
    """The Tune ``param_space``: the distributions as Tune domains plus a per-trial ``seed``."""
    from ray import tune

    return {**_to_tune(space), "seed": tune.randint(*SEED_RANGE)}


def lr_mutation(space: dict[str, Any]) -> dict[str, Any]:
    """PBT's ``hyperparam_mutations``: resample the learning rate from its distribution."""
    lr = _to_tune(space["lr"])
    if not hasattr(lr, "sample"):
        raise SpaceError("--scheduler pbt mutates 'lr', so the space must give it a distribution")
    return {"lr": lr}


def schedule_knobs(trial_config: dict[str, Any], max_epochs: int) -> dict[str, Any]:
    """The knobs of the trial's schedule, with epoch fractions turned into epochs."""
    knobs = dict((trial_config.get("knobs") or {}).get(trial_config.get("schedule"), {}) or {})
    for name, value in knobs.items():
        if isinstance(value, dict) and EPOCH_FRACTIONS in value:
            knobs[name] = [max(1, round(float(f) * max_epochs)) for f in value[EPOCH_FRACTIONS]]
    return knobs
