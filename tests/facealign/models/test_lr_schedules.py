"""The learning-rate schedule registry the cascade and the sweeps draw from."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from facealign.config import load_params
from facealign.models.lr_schedules import SCHEDULES, build_scheduler

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def rates(name: str, steps_per_epoch: int, max_epochs: int, lr: float = 1.0, **knobs) -> list[float]:
    """The learning rate used at every optimizer step of a run."""
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = build_scheduler(name, opt, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, **knobs)
    out = []
    for _ in range(steps_per_epoch * max_epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def test_paper_schedule_divides_by_ten_after_15_and_30_epochs():
    lrs = rates("paper", steps_per_epoch=3, max_epochs=40, lr=1e-4)
    by_epoch = [lrs[3 * e] for e in range(40)]
    assert all(v == pytest.approx(1e-4) for v in by_epoch[:15])
    assert all(v == pytest.approx(1e-5) for v in by_epoch[15:30])
    assert all(v == pytest.approx(1e-6) for v in by_epoch[30:])
    assert lrs[3 * 15 - 1] == pytest.approx(1e-4)  # the drop happens at the epoch boundary


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_schedule_builds_with_its_defaults_and_stays_positive(name):
    lrs = rates(name, steps_per_epoch=4, max_epochs=5, lr=0.1)
    assert len(lrs) == 20 and all(math.isfinite(v) and 0 < v <= 0.1 + 1e-12 for v in lrs)
    assert set(SCHEDULES[name]) == {"builder", "knobs", "doc"} and SCHEDULES[name]["doc"]


def test_cosine_decays_to_its_floor_and_warmup_starts_low():
    cos = rates("cosine", 10, 4, min_factor=0.05)
    assert cos[0] == pytest.approx(1.0) and cos[-1] == pytest.approx(0.05, abs=0.01)
    assert all(a >= b for a, b in zip(cos, cos[1:], strict=False))
    warm = rates("warmup_cosine", 10, 4, warmup_epochs=1)
    assert warm[0] == pytest.approx(0.1) and max(warm) == pytest.approx(1.0) and warm.index(max(warm)) == 9


def test_one_cycle_peaks_at_the_base_rate_and_exponential_decays_per_epoch():
    cyc = rates("one_cycle", 10, 4, pct_start=0.25)
    assert max(cyc) == pytest.approx(1.0) and cyc[0] < 0.1 and cyc[-1] < 0.01
    exp = rates("exponential", 5, 3, gamma_per_epoch=0.5)
    assert exp[5] == pytest.approx(0.5) and exp[10] == pytest.approx(0.25)


def test_multistep_milestones_are_fractions_of_the_run():
    lrs = rates("multistep", 2, 10, milestones=[0.5], gamma=0.2)
    assert lrs[9] == pytest.approx(1.0) and lrs[10] == pytest.approx(0.2)


def test_unknown_schedule_or_knob_is_refused_by_name():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with pytest.raises(ValueError, match="unknown learning-rate schedule 'step'"):
        build_scheduler("step", opt, steps_per_epoch=1, max_epochs=1)
    with pytest.raises(ValueError, match="no knob"):
        build_scheduler("cosine", opt, steps_per_epoch=1, max_epochs=1, gamma=0.1)


@pytest.mark.parametrize("preset", ["default", "paper", "fast_dev_run"])
def test_configured_schedules_exist(preset):
    assert load_params(PARAMS, preset=preset)["cascade"]["schedule"] in SCHEDULES
