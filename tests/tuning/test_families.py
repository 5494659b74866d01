"""One object per family: a trial's hyperparameters land in the family's own config keys,
outputs in the trial folder, and ``train`` is the family's training entry."""

from __future__ import annotations

import copy
import os
import pickle
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import training.dff
from facealign.config import load_params
from training.cascade_settings import CascadeSettings
from tuning.families import FAMILIES, PBT_REFERENCE_LR, CascadeFamily, DFFFamily, Family, get_family

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


def test_each_name_maps_to_its_own_family_object():
    assert isinstance(get_family("cascade"), CascadeFamily) and isinstance(get_family("dff"), DFFFamily)
    assert set(FAMILIES) == {"cascade", "dff"}
    assert all(isinstance(f, Family) and f.name == name for name, f in FAMILIES.items())
    assert (get_family("cascade").metric, get_family("cascade").registrable) == ("val_nme", True)


def test_an_unknown_family_name_is_named_in_the_error():
    with pytest.raises(ValueError, match="'sift'.*cascade, dff"):
        get_family("sift")


def test_the_family_base_cannot_be_instantiated():
    with pytest.raises(TypeError):
        Family()  # type: ignore[abstract]


def test_required_inputs_name_the_dvc_stage_that_makes_each(cfg):
    assert [stage for _, stage in CascadeFamily().required_inputs(cfg)] == ["build_face_model", "synthesize"]
    dff = DFFFamily().required_inputs(cfg)
    assert [stage for _, stage in dff] == ["build_face_model", "segment", "synthesize_dff"]
    assert dff[2][0] == Path(cfg["paths"]["dff_data"]) / "train"


def _changed_keys(before: Any, after: Any, prefix: str = "") -> set[str]:
    """Dotted keys whose value differs (or that only one side has)."""
    if not (isinstance(before, dict) and isinstance(after, dict)):
        return set() if before == after else {prefix}
    keys = set(before) | set(after)
    return set().union(*(_changed_keys(before.get(k), after.get(k), f"{prefix}{k}.") for k in keys))


def test_each_trial_config_changes_only_its_family_section(cfg, tmp_path):
    given = copy.deepcopy(cfg)
    cascade = CascadeFamily().trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=False)
    dff = DFFFamily().trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=False)
    assert cfg == given  # the given config is left untouched
    assert {k.split(".")[0] for k in _changed_keys(cfg, cascade)} == {"cascade"}
    changed = {k.rstrip(".") for k in _changed_keys(cfg, dff)}
    assert {k.split(".")[0] for k in changed} == {"dff"}
    assert {k for k in changed if not k.startswith("dff.train.")} <= {"dff.output"}


def test_work_dirs_and_resume_checkpoints_are_the_ones_train_resumes_from(cfg, tmp_path):
    cascade_cfg = CascadeFamily().trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=False)
    dff_cfg = DFFFamily().trial_config(cfg, TRIAL, 4, tmp_path, "cpu", 1, pbt=False)
    assert CascadeFamily().work_dir(cascade_cfg) == DFFFamily().work_dir(dff_cfg) == tmp_path / "work"
    assert CascadeFamily().resume_checkpoint(1) == "stage1/last.ckpt"
    assert DFFFamily().resume_checkpoint(0) == "last.ckpt"
    assert CascadeFamily().n_fits({"cascade": {"stages": 3}}) == 3 and DFFFamily().n_fits(cfg) == 1
    assert CascadeFamily().train_section(cascade_cfg) is cascade_cfg["cascade"]
    assert DFFFamily().train_section(dff_cfg) is dff_cfg["dff"]


def test_only_dff_gets_a_scratch_tracking_store(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    CascadeFamily().isolate_tracking(tmp_path / "c")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    DFFFamily().isolate_tracking(tmp_path / "d")
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'd' / 'mlflow-scratch.db'}"


def _recording_train(calls: list) -> Any:
    def train(cfg: dict, callbacks: Any = None, trainer_overrides: Any = None) -> dict[str, float]:
        calls.append((cfg, callbacks, trainer_overrides))
        return {"metric": 1.0}

    return train


def test_cascade_train_calls_the_cascade_training_entry(monkeypatch):
    calls: list = []
    stub = ModuleType("training.cascade")  # stands in for the real module (which imports torch)
    stub.train = _recording_train(calls)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "training.cascade", stub)
    import training

    monkeypatch.setattr(training, "cascade", stub, raising=False)
    cfg, callbacks, overrides = {"cascade": {}}, ["cb"], {"devices": 1}
    assert CascadeFamily().train(cfg, callbacks=callbacks, trainer_overrides=overrides) == {"metric": 1.0}
    assert calls == [(cfg, callbacks, overrides)]


def test_dff_train_calls_the_dff_training_entry(monkeypatch):
    calls: list = []
    monkeypatch.setattr(training.dff, "train", _recording_train(calls))
    cfg = {"dff": {}}
    assert DFFFamily().train(cfg, callbacks=None, trainer_overrides={"x": 1}) == {"metric": 1.0}
    assert calls == [(cfg, None, {"x": 1})]


def test_a_trial_without_a_stand_in_trains_with_its_family_and_the_family_travels_to_ray():
    from tuning.trainable import TrialSpec

    family = get_family("dff")
    assert TrialSpec(family=family, base_cfg={}, max_epochs=1).resolve_train_fn() == family.train
    assert pickle.loads(pickle.dumps(get_family("cascade"))) == get_family("cascade")
