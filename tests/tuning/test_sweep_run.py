"""A sweep end to end on a local Ray with the stand-in training entry (tests only)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest
import standin
from mlflow.tracking import MlflowClient

from tuning.runner import ResumeError, run_sweep

pytestmark = pytest.mark.usefixtures("ray_local")


def _children(client: MlflowClient, experiment_id: str, parent: str) -> list:
    return client.search_runs([experiment_id], filter_string=f"tags.`mlflow.parentRunId` = '{parent}'")


def test_two_trial_asha_sweep_leaves_parent_children_best_json_and_a_candidate(sweep_cfg, make_settings):
    settings = make_settings(num_samples=2, max_epochs=3, scheduler="asha")
    outcome = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert outcome.status == "finished"
    assert len(outcome.rows) == 2
    assert all(r.outcome in ("completed", "stopped early") for r in outcome.rows)
    best = json.loads((settings.experiment_dir / "best.json").read_text())
    assert best["metric"] == "val_nme" and best["val_nme"] == min(r.value for r in outcome.rows
                                                                   if r.outcome == "completed")
    assert {"lr", "schedule", "schedule_knobs", "weight_decay", "batch_size", "seed"} <= set(best["config"])
    assert Path(best["model_dir"], "aligner.json").is_file()

    client = MlflowClient(sweep_cfg["mlflow"]["tracking_uri"])
    parent = client.get_run(best["mlflow_parent_run_id"])
    assert parent.info.status == "FINISHED"
    children = _children(client, parent.info.experiment_id, parent.info.run_id)
    assert len(children) == 2
    assert {c.info.status for c in children} == {"FINISHED"}
    assert best["mlflow_run_id"] in {c.info.run_id for c in children}
    for child in children:
        assert {"lr", "schedule", "weight_decay", "batch_size", "seed"} <= set(child.data.params)
        # ... and the whole cascade section the trial trained with
        assert child.data.params["cascade.schedule"] == child.data.params["schedule"]
        assert child.data.params["cascade.max_epochs"] == "3"
        history = client.get_metric_history(child.info.run_id, "val_nme")
        assert [m.step for m in history] == list(range(1, int(child.data.tags["epochs_run"]) + 1))

    version = client.get_model_version(sweep_cfg["registry"]["name"], best["version"])
    assert version.tags["candidate"] == "true" and version.tags["sweep"] == settings.experiment
    assert "nme_mean" in version.tags
    registered = client.get_registered_model(sweep_cfg["registry"]["name"])
    assert not registered.aliases  # promotion stays with `facealign promote`
    assert "completed" in outcome.table and "*" in outcome.table


def test_failing_trials_are_retried_then_recorded_without_stopping_the_sweep(sweep_cfg, make_settings):
    sweep_cfg["standin"].update(fail_always=["00000"], fail_once=["00001"])
    settings = make_settings(num_samples=2, max_epochs=1, scheduler="fifo", max_failures=1, register=False)
    outcome = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert outcome.status == "finished"
    by_id = {r.trial_id[-5:]: r for r in outcome.rows}
    assert by_id["00000"].outcome == "failed" and by_id["00000"].failures == 2  # first try + 1 retry
    assert by_id["00001"].outcome == "completed" and by_id["00001"].failures == 1
    client = MlflowClient(sweep_cfg["mlflow"]["tracking_uri"])
    state = outcome.state
    children = {c.data.tags["ray_trial_id"][-5:]: c for c in
                _children(client, state["mlflow_experiment_id"], state["parent_run_id"])}
    assert children["00000"].info.status == "FAILED"
    assert "always fails" in children["00000"].data.tags["error"]
    assert children["00001"].info.status == "FINISHED"
    assert children["00001"].data.tags["failed_attempts"] == "1"
    assert client.get_run(state["parent_run_id"]).info.status == "FINISHED"
    assert "failed (2 failed attempts)" in outcome.table


def test_an_interrupted_sweep_resumes_without_rerunning_finished_trials(sweep_cfg, make_settings):
    records = Path(sweep_cfg["standin"]["record_dir"])
    sweep_cfg["standin"].update(interrupt_after=1, driver_pid=os.getpid(), epoch_sleep=0.5)
    settings = make_settings(num_samples=2, max_epochs=3, scheduler="fifo", max_concurrent_trials=1,
                             register=False)

    first = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert first.status == "interrupted"
    assert (records / "interrupted").is_file()
    assert [r.outcome for r in first.rows][0] == "completed"
    assert not (settings.experiment_dir / "best.json").exists()
    client = MlflowClient(sweep_cfg["mlflow"]["tracking_uri"])
    state = first.state
    assert client.get_run(state["parent_run_id"]).info.status == "KILLED"
    killed = _children(client, state["mlflow_experiment_id"], state["parent_run_id"])
    assert "RUNNING" not in {c.info.status for c in killed}

    second = run_sweep(settings, sweep_cfg, resume=True, train_fn=standin.train, verbose=0)

    assert second.status == "finished"
    assert [r.outcome for r in second.rows] == ["completed"] * 2
    runs_per_trial = Counter(json.loads(p.read_text())["trial"][-5:] for p in records.glob("*.json"))
    assert runs_per_trial["00000"] == 1  # the finished trial was not run again
    assert runs_per_trial["00001"] >= 1  # the interrupted one was (its first run may have ended)
    assert client.get_run(state["parent_run_id"]).info.status == "FINISHED"
    children = _children(client, state["mlflow_experiment_id"], state["parent_run_id"])
    assert len(children) == 2 and {c.info.status for c in children} == {"FINISHED"}
    assert (settings.experiment_dir / "best.json").is_file()
    with pytest.raises(ResumeError, match="already finished"):
        run_sweep(settings, sweep_cfg, resume=True, train_fn=standin.train, verbose=0)


@pytest.mark.slow
def test_pbt_copies_good_trials_and_mutates_their_learning_rate(sweep_cfg, make_settings):
    sweep_cfg["standin"]["epoch_sleep"] = 0.3
    settings = make_settings(num_samples=4, max_epochs=4, scheduler="pbt", register=False,
                             pbt={"perturbation_interval": 1, "quantile_fraction": 0.5,
                                  "resample_probability": 0.5})
    outcome = run_sweep(settings, sweep_cfg, train_fn=standin.train, verbose=0)

    assert outcome.status == "finished"
    assert [r.outcome for r in outcome.rows] == ["completed"] * 4
    assert all(r.epochs >= 4 for r in outcome.rows)
    client = MlflowClient(sweep_cfg["mlflow"]["tracking_uri"])
    state = outcome.state
    children = _children(client, state["mlflow_experiment_id"], state["parent_run_id"])
    rates = [{m.value for m in client.get_metric_history(c.info.run_id, "base_lr")} for c in children]
    assert any(len(r) > 1 for r in rates)  # some trial continued with a mutated learning rate
    for child in children:  # a copied trial goes on counting epochs where its source was
        steps = [m.step for m in client.get_metric_history(child.info.run_id, "val_nme")]
        assert steps == sorted(steps) and steps[-1] == 4
