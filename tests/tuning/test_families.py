"""A trial's hyperparameters land in the family's own config keys, outputs in the trial folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from facealign.config import load_params
from facealign.training.cascade_settings import CascadeSettings
from tuning.families import PBT_REFERENCE_LR, get_family

REPO_ROOT = Path(__file__).resolve().parents[2]
TRIAL = {"lr": 3e-4, "schedule": "paper", "weight_decay": 1e-5, "batch_size": 16, "seed": 7,
         "warmup_fraction": 0.1, "knobs": {"paper": {"milestones_epochs": {"fractions_of_max_epochs": [0.5]},
                                                      "gamma": 0.1}}}


@pytest.fixture
def cfg() -> dict:
    return load_params(REPO_ROOT / "params.yaml")


def test_a_cascade_trial_is_a_valid_cascade_config_writing_only_inside_the_trial(cfg, tmp_path):
    family = get_family("cascade")
    trial_cfg = family.trial_config(cfg, TRIAL, max_epochs=4, trial_dir=tmp_path, accelerator="cpu",
                                    threads=2, pbt=False)
    settings = CascadeSettings.from_section(trial_cfg["cascade"])  # unknown keys would raise
    assert (settings.lr, settings.weight_decay, settings.batch_size) == (3e-4, 1e-5, 16)
    assert settings.schedule == "paper"
    assert settings.schedule_knobs == {"milestones_epochs": [2], "gamma": 0.1}
    assert (settings.seed, settings.max_epochs, settings.torch_threads) == (7, 4, 2)
    assert settings.mlflow is False  # the driver is the only MLflow writer
    assert Path(settings.output).parent == tmp_path and Path(settings.work_dir).parent == tmp_path
    assert family.model_dir(trial_cfg) == tmp_path / "model"
    assert cfg["cascade"]["output"] != settings.output  # the given config is left untouched


def test_under_pbt_the_configured_rate_is_the_fixed_reference(cfg, tmp_path):
    trial_cfg = get_family("cascade").trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=True)
    assert trial_cfg["cascade"]["lr"] == PBT_REFERENCE_LR


def test_data_parallel_ranks_other_than_zero_write_their_model_elsewhere(cfg, tmp_path):
    family = get_family("cascade")
    rank1 = family.trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=False, rank=1)
    assert family.model_dir(rank1) != tmp_path / "model"
    assert rank1["cascade"]["work_dir"] == str(tmp_path / "work")  # shared, written by rank 0


def test_a_dff_trial_sets_only_keys_the_dff_section_has(cfg, tmp_path):
    family = get_family("dff")
    trial_cfg = family.trial_config(cfg, TRIAL, 3, tmp_path, "cpu", 1, pbt=False)
    assert set(trial_cfg["dff"]["train"]) == set(cfg["dff"]["train"])
    train = trial_cfg["dff"]["train"]
    assert (train["lr"], train["batch_size"], train["max_epochs"]) == (3e-4, 16, 3)
    assert train["warmup_fraction"] == 0.1
    assert Path(trial_cfg["dff"]["output"]).parent == tmp_path
    assert family.metric == "val_loss" and not family.registrable


def test_missing_training_data_names_the_dvc_stage_that_makes_it(cfg, tmp_path):
    cfg["paths"].update(face_model=str(tmp_path / "none.npz"), data=str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="dvc repro build_face_model"):
        get_family("cascade").check_inputs(cfg)
