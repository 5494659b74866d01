"""Sweep settings: ``tune:`` defaults under the flags, validated; trials fitted to the cluster."""

from __future__ import annotations

from pathlib import Path

import pytest

from facealign.config import load_params
from tuning import cluster
from tuning.settings import SettingsError, SweepSettings, resolve

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def section() -> dict:
    return dict(load_params(REPO_ROOT / "params.yaml")["tune"])


def test_params_yaml_defaults_resolve_to_a_valid_cascade_sweep(section, monkeypatch):
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    settings = resolve(section, {})
    assert settings.model == "cascade" and settings.scheduler == "asha"
    assert settings.experiment == "sweep-cascade"
    assert settings.address is None
    assert Path(settings.storage_path).is_absolute()
    assert settings.train_overrides["cascade.stages"] == 1
    assert settings.tune_storage == f"{settings.storage_path}/sweep-cascade"


def test_flags_win_over_the_section_and_pick_the_family_overrides(section):
    settings = resolve(section, {"model": "dff", "num_samples": 3, "scheduler": "fifo", "gpus_per_trial": 0.5,
                                 "seed": None})
    assert (settings.model, settings.num_samples, settings.scheduler) == ("dff", 3, "fifo")
    assert settings.gpus_per_trial == 0.5 and settings.seed == section["seed"]
    assert settings.experiment == "sweep-dff"
    assert settings.train_overrides == section["train_overrides"]["dff"]


def test_ray_address_comes_from_the_environment_unless_given(section, monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")
    assert resolve(section, {}).address == "ray://head:10001"
    assert resolve(section, {"address": "auto"}).address == "auto"


def test_remote_storage_is_kept_as_a_uri(section):
    settings = resolve(section, {"storage_path": "s3://bucket/sweeps"})
    assert settings.tune_storage == "s3://bucket/sweeps/sweep-cascade"


@pytest.mark.parametrize("flags, message", [
    ({"scheduler": "hyperband"}, "--scheduler"),
    ({"model": "resnet"}, "--model"),
    ({"num_samples": 0}, "--num-samples"),
    ({"workers_per_trial": 2, "gpus_per_trial": 1}, "NCCL needs one whole GPU"),
    ({"scheduler": "pbt", "num_samples": 1}, "at least 2 samples"),
    ({"scheduler": "pbt", "workers_per_trial": 2}, "use --workers-per-trial 1 with pbt"),
    ({"cpus_per_trial": 0}, "--cpus-per-trial"),
])
def test_settings_that_cannot_run_are_refused_with_the_flag_named(section, flags, message):
    with pytest.raises(SettingsError, match=message):
        resolve(section, flags)


def test_unknown_keys_in_the_tune_section_are_refused(section):
    with pytest.raises(SettingsError, match="unknown key"):
        resolve({**section, "num_sample": 4}, {})


def test_settings_round_trip_through_json(section):
    settings = resolve(section, {"num_samples": 5})
    assert SweepSettings.from_json(settings.to_json()) == settings


def test_data_parallel_workers_split_the_trial_resources_leaving_a_sliver_to_the_driver(section):
    settings = resolve(section, {"cpus_per_trial": 4, "gpus_per_trial": 2, "workers_per_trial": 2})
    per_worker = settings.worker_resources()
    assert per_worker["GPU"] == 1
    assert 2 * per_worker["CPU"] + cluster.trial_resources(settings)["cpu"] == pytest.approx(4)


def test_concurrency_follows_the_scarcest_resource(section):
    one_gpu = resolve(section, {"cpus_per_trial": 1, "gpus_per_trial": 0.5})
    assert cluster.trials_that_fit(one_gpu, {"CPU": 8, "GPU": 1}) == 2
    assert cluster.trials_that_fit(one_gpu, {"CPU": 1, "GPU": 4}) == 1
    assert cluster.max_concurrent_trials(one_gpu, {"CPU": 8, "GPU": 1}) is None  # Tune follows resources
    ddp = resolve(section, {"cpus_per_trial": 2, "workers_per_trial": 2})
    assert cluster.max_concurrent_trials(ddp, {"CPU": 6}) == 3  # capped: trials only drive Ray Train


def test_a_local_cluster_too_small_for_one_trial_is_an_error(section):
    settings = resolve(section, {"gpus_per_trial": 1})
    with pytest.raises(cluster.ClusterError, match="needs 1 CPUs and 1 GPUs"):
        cluster.max_concurrent_trials(settings, {"CPU": 2})
