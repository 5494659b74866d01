"""The search space: declared once, checked against the schedule registry, overridable, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from facealign.models.lr_schedules import SCHEDULES
from tuning.search_space import (
    DEFAULT_SPACES,
    SpaceError,
    load_space,
    lr_mutation,
    schedule_knobs,
    to_param_space,
)


def _sample(space: dict, seed: int) -> dict:
    rng = np.random.RandomState(seed)

    def draw(value):
        if isinstance(value, dict):
            return {k: draw(v) for k, v in value.items()}
        return value.sample(random_state=rng) if hasattr(value, "sample") else value

    return draw(to_param_space(space))


def test_the_cascade_space_draws_every_schedule_of_the_registry_with_its_knobs():
    space = load_space("cascade")
    assert set(space["schedule"]["choice"]) == {"paper", "multistep", "cosine", "one_cycle", "exponential",
                                                "warmup_cosine"}
    for name, knobs in space["knobs"].items():
        assert set(knobs) <= set(SCHEDULES[name]["knobs"])
    assert {"lr", "weight_decay", "batch_size"} <= set(space)


def test_sampling_is_seeded_and_every_value_is_in_range():
    space = load_space("cascade")
    first, again, other = _sample(space, 7), _sample(space, 7), _sample(space, 8)
    assert first == again and first != other
    low, high = space["lr"]["loguniform"]
    assert low <= first["lr"] <= high
    assert first["batch_size"] in space["batch_size"]["choice"]
    assert 0 <= first["seed"] < 2**31


def test_the_paper_schedule_is_squeezed_into_the_sweep_and_a_trial_keeps_only_its_own_knobs():
    trial = _sample(load_space("cascade"), 0) | {"schedule": "paper"}
    assert schedule_knobs(trial, max_epochs=40) == {"milestones_epochs": [15, 30], "gamma": 0.1}
    assert schedule_knobs(trial, max_epochs=6) == {"milestones_epochs": [2, 4], "gamma": 0.1}
    assert set(schedule_knobs(trial | {"schedule": "cosine"}, 6)) == {"min_factor"}


def test_a_space_file_replaces_top_level_entries_and_per_schedule_knobs(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text("lr: {loguniform: [1.0e-5, 1.0e-4]}\nschedule: {choice: [cosine]}\n"
                    "knobs:\n  cosine: {min_factor: 0.5}\n")
    space = load_space("cascade", path)
    assert space["lr"] == {"loguniform": [1.0e-5, 1.0e-4]}
    assert space["knobs"]["cosine"] == {"min_factor": 0.5}
    assert space["knobs"]["exponential"] == DEFAULT_SPACES["cascade"]["knobs"]["exponential"]
    assert _sample(space, 1)["schedule"] == "cosine"


@pytest.mark.parametrize("text, message", [
    ("schedule: {choice: [cosine, triangle]}\n", "unknown schedule 'triangle'"),
    ("knobs:\n  cosine: {eta_min: 0.1}\n", "has no knob 'eta_min'"),
    ("lr: {loguniform: [0, 1]}\n", "positive low bound"),
    ("lr: {normal: [0, 1]}\n", "expected a constant or one of"),
    ("weight_decay: {uniform: [1, 0]}\n", "low < high"),
])
def test_malformed_spaces_are_refused_naming_the_key(tmp_path, text, message):
    path = tmp_path / "space.yaml"
    path.write_text(text)
    with pytest.raises(SpaceError, match=message):
        load_space("cascade", path)


def test_pbt_resamples_the_learning_rate_from_its_distribution():
    mutation = lr_mutation(load_space("cascade"))
    assert set(mutation) == {"lr"} and hasattr(mutation["lr"], "sample")
    with pytest.raises(SpaceError, match="pbt mutates 'lr'"):
        lr_mutation({"lr": 1e-3})


def test_the_dff_space_has_no_schedule_choice_but_its_warmup():
    space = load_space("dff")
    assert "schedule" not in space and "warmup_fraction" in space


def _trial_configs(seed: int, n: int) -> list[dict]:
    from ray.tune.experiment import Experiment

    from tuning.schedulers import build_searcher
    from tuning.settings import SweepSettings

    searcher = build_searcher(SweepSettings(experiment="x", seed=seed))
    searcher.add_configurations([Experiment("x", lambda config: None, num_samples=n,
                                            config=to_param_space(load_space("cascade")))])
    return [searcher.next_trial().config for _ in range(n)]


def test_the_same_seed_gives_the_same_trials_and_they_spread_over_the_space():
    first, again = _trial_configs(0, 8), _trial_configs(0, 8)
    assert first == again
    assert first != _trial_configs(1, 8)
    log_lrs = np.log10([c["lr"] for c in first])
    assert log_lrs.max() - log_lrs.min() > 0.5  # not a cluster of near-identical rates
    assert len({c["schedule"] for c in first}) >= 3
