"""``facealign params``: params.yaml composed from conf/ and a preset, as `dvc exp run -S` composes it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from commands.cli import main
from commands.pipeline import drift_note

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project's conf/ and params.yaml; returns the params.yaml path."""
    shutil.copytree(REPO / "conf", tmp_path / "conf")
    shutil.copy(REPO / "params.yaml", tmp_path / "params.yaml")
    return tmp_path / "params.yaml"


def test_a_preset_and_an_override_are_written_to_params_yaml(project: Path) -> None:
    assert main(["params", "--params", str(project), "--preset", "fast_dev_run",
                 "--set", "synthesize.n_train=100"]) == 0
    written = yaml.safe_load(project.read_text())
    assert written["preset"] == "fast_dev_run"
    assert written["synthesize"]["n_train"] == 100  # the override wins over the preset's 64
    assert written["cascade"]["max_epochs"] == 1 and written["synthesize"]["n_test"] == 30


def test_get_prints_what_the_commands_read(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--params", str(project), "--get", "synthesize.n_train", "preset"]) == 0
    assert capsys.readouterr().out.splitlines() == ["synthesize.n_train: 1500", 'preset: "default"']
    assert main(["params", "--params", str(project), "--get", "synthesize.nope"]) == 2
    assert "synthesize.nope" in capsys.readouterr().err


def test_check_names_the_keys_edited_by_hand_and_recomposing_clears_them(
        project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["params", "--params", str(project), "--check"]) == 0
    project.write_text(project.read_text().replace("n_train: 1500", "n_train: 99"))
    assert main(["params", "--params", str(project), "--check"]) == 1
    assert "synthesize.n_train" in capsys.readouterr().err
    note = drift_note(str(project))
    assert note is not None and "synthesize.n_train" in note
    assert main(["params", "--params", str(project)]) == 0  # recompose with its preset (default)
    assert project.read_text() == (REPO / "params.yaml").read_text() and drift_note(str(project)) is None


def test_an_unknown_preset_is_one_error_naming_it(project: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = project.read_text()
    assert main(["params", "--params", str(project), "--preset", "huge"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err
    assert project.read_text() == before
