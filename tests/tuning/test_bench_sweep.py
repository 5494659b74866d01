"""bench/sweep.py: the ASHA-vs-FIFO numbers and the ``bench/results/sweep.json`` contract."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path

import pytest
import standin

from tuning.results import TrialRow
from tuning.runner import SweepOutcome

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_sweep", REPO_ROOT / "bench" / "sweep.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(trial: str, status: str, value: float, epochs: int, has_model: bool) -> TrialRow:
    return TrialRow(trial, status, "cosine", 1e-3, epochs, value, has_model=has_model)


def test_a_summary_counts_completed_trials_and_takes_the_best_completed_nme(bench):
    outcome = SweepOutcome("finished", [
        _row("a", "TERMINATED", 5.0, 6, True), _row("b", "TERMINATED", 4.0, 1, False),
        _row("c", "TERMINATED", 6.0, 6, True), _row("d", "ERROR", math.nan, 0, False)], None, 12.34, "")
    assert bench.summary(outcome) == {"wall_s": 12.3, "trials": 2, "trials_stopped_early": 1, "epochs": 13,
                                      "best_nme": 5.0}


def test_the_table_shows_both_schedulers_and_the_wall_ratio(bench):
    row = {"wall_s": 10.0, "trials": 2, "trials_stopped_early": 0, "epochs": 12, "best_nme": 5.0}
    text = bench.table({"asha": row, "fifo": {**row, "wall_s": 20.0}, "wall_ratio": 0.5})
    assert "asha" in text and "fifo" in text and "wall_ratio (asha / fifo): 0.500" in text


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_the_benchmark_runs_both_sweeps_on_the_same_seeded_space(bench, sweep_cfg, tmp_path):
    sweep_cfg["tune"]["train_overrides"] = {"cascade": {"cascade.stages": 1}}
    results = bench.run_benchmark(sweep_cfg, {"num_samples": 4, "max_epochs": 3, "seed": 1}, tmp_path,
                                  train_fn=standin.train)
    assert set(results) == {"asha", "fifo", "wall_ratio", "settings"}
    assert results["fifo"]["trials"] == 4 and results["fifo"]["epochs"] == 12
    assert results["asha"]["epochs"] <= results["fifo"]["epochs"]
    assert results["wall_ratio"] == pytest.approx(results["asha"]["wall_s"] / results["fifo"]["wall_s"], 1e-2)
    json.dumps(results)
