"""Trials share the cluster by their resources: GPU fractions, and DDP workers via Ray Train."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import standin

from tuning.runner import run_sweep

pytestmark = pytest.mark.usefixtures("ray_local")


def _records(cfg: dict) -> list[dict]:
    return [json.loads(p.read_text()) for p in Path(cfg["standin"]["record_dir"]).glob("*.json")]


def _most_at_once(records: list[dict]) -> int:
    events = sorted([(r["start"], 1) for r in records] + [(r["end"], -1) for r in records],
                    key=lambda e: (e[0], e[1]))
    running = peak = 0
    for _, step in events:
        running += step
        peak = max(peak, running)
    return peak


def test_trials_asking_for_half_a_gpu_run_two_at_a_time_on_one_logical_gpu(sweep_cfg, make_settings):
    # The local Ray declares 2 CPUs and 1 logical GPU: by CPU (0.5 each) all 3 trials would fit
    # at once, by GPU share (0.5 each) only 2.
    sweep_cfg["standin"]["epoch_sleep"] = 2.0
    settings = make_settings(num_samples=3, max_epochs=1, scheduler="fifo", cpus_per_trial=0.5,
                             gpus_per_trial=0.5, register=False)
    outcome = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert outcome.status == "finished"
    records = _records(sweep_cfg)
    assert len(records) == 3
    assert all(r["gpu_ids"] == ["0"] for r in records)  # each trial was given the (shared) GPU 0
    assert _most_at_once(records) == 2


@pytest.mark.slow  # Ray Train's controller and worker group alone take about 30 s to start
def test_a_trial_with_two_workers_trains_data_parallel_over_gloo(sweep_cfg, make_settings):
    settings = make_settings(num_samples=1, max_epochs=1, scheduler="fifo", cpus_per_trial=2,
                             workers_per_trial=2, register=False)
    outcome = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert outcome.status == "finished"
    records = _records(sweep_cfg)
    assert sorted(r["rank"] for r in records) == [0, 1]
    assert {(r["world_size"], r["backend"]) for r in records} == {(2, "gloo")}
    [row] = outcome.rows
    assert row.outcome == "completed" and row.epochs == 1
    best = json.loads((settings.experiment_dir / "best.json").read_text())
    assert Path(best["model_dir"], "aligner.json").is_file()
