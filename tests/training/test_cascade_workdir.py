"""The cascade's work directory: resumable work is never deleted by a setting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from commands.cli import main as cli
from training.cascade_workdir import WorkDir

PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"


def _finished_stage(root: Path, fingerprint: dict) -> WorkDir:
    work = WorkDir(root, fingerprint)
    work.prepare()
    work.save_stage(0, {"w": torch.ones(2)}, np.zeros((3, 4)), {"stage": 0})
    return work


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_a_changed_configuration_keeps_the_old_work_until_the_new_one_finishes_a_stage(tmp_path) -> None:
    root = tmp_path / "work"
    _finished_stage(root, {"lr": 1})
    before = _files(root)
    new = WorkDir(root, {"lr": 2})
    assert new.prepare() is False and not new.stage_done(0)
    (kept,) = new.superseded()
    assert _files(kept) == before, "the old work is set aside intact"
    new.save_stage(0, {"w": torch.zeros(2)}, np.ones((3, 4)), {"stage": 0})
    assert new.superseded() == [], "dropped once the new work has a finished stage"


def test_coming_back_to_a_configuration_before_the_new_work_finished_restores_its_work(tmp_path) -> None:
    root = tmp_path / "work"
    _finished_stage(root, {"lr": 1})
    assert WorkDir(root, {"lr": 2}).prepare() is False  # interrupted before finishing a stage
    back = WorkDir(root, {"lr": 1})
    assert back.prepare() is True and back.stage_done(0)
    state, _, _ = back.load_stage(0)
    assert torch.equal(state["w"], torch.ones(2))


def test_a_work_dir_that_is_not_one_is_refused_and_left_alone(tmp_path) -> None:
    root = tmp_path / "precious"
    root.mkdir()
    (root / "thesis.tex").write_text("years of work")
    with pytest.raises(ValueError, match="not a cascade work directory"):
        WorkDir(root, {"lr": 1}).prepare()
    assert (root / "thesis.tex").read_text() == "years of work"


@pytest.mark.parametrize(("setting", "message"), [
    ("cascade.max_epochs=-1", "cascade.max_epochs: -1 is not >= 1"),
    ("cascade.lr=abc", "cascade.lr: 'abc' is not a number"),
    ("cascade.val_fraction=1.5", "cascade.val_fraction: 1.5 is not in [0, 1]"),
    ("cascade.batch_size=0", "cascade.batch_size: 0 is not >= 1"),
])
def test_a_bad_setting_exits_2_naming_it_before_touching_the_work(
        tmp_path, tiny_model_path, tiny_dataset, capsys, setting: str, message: str) -> None:
    """Reproduces the reported failure: ``--set cascade.max_epochs=-1`` deleted the finished
    stages of ``models/cascade_work`` (another configuration's) and then died."""
    root = tmp_path / "work"
    _finished_stage(root, {"some": "earlier configuration"})
    before = _files(root)
    code = cli(["train-cascade", "--params", str(PARAMS), "--set", setting,
                "--set", f"cascade.work_dir={root}", "--set", f"cascade.output={tmp_path / 'cascade'}",
                "--set", f"paths.face_model={tiny_model_path}", "--set", f"paths.data={tiny_dataset}",
                "--set", "cascade.mlflow=false", "--set", "cascade.stages=1",
                "--set", "cascade.num_workers=0"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and len(err.splitlines()) == 1, err
    assert _files(root) == before and not list(tmp_path.glob("work.superseded-*"))
    assert json.loads((root / "stage0.json").read_text()) == {"stage": 0}
