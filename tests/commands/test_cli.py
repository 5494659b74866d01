"""The `facealign` console command: subcommands, help, and clean errors."""

import io
import os
import subprocess
import sys

import pytest

from commands.cli import ARTIFACT_BARS, main, quiet_artifact_bars


def test_help_lists_the_pipeline_steps(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in ("build-model", "synthesize", "evaluate", "pipeline"):
        assert name in out


def test_a_bad_override_exits_2_and_names_the_parameter(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--model", "mean-shape", "--data", "x", "--output", "y.json",
                 "--set", "nope.key=1"])
    assert code == 2
    assert "nope.key" in capsys.readouterr().err


def test_a_missing_data_folder_exits_2_and_names_it(tmp_path, capsys) -> None:
    code = main(["evaluate", "--model", "mean-shape", "--data", str(tmp_path / "absent"),
                 "--output", str(tmp_path / "m.json"),
                 "--set", f"paths.face_model={tmp_path / 'absent_model.npz'}"])
    assert code == 2
    assert "absent" in capsys.readouterr().err
    assert not (tmp_path / "m.json").exists()


def test_the_console_script_runs_as_a_module() -> None:
    out = subprocess.run([sys.executable, "-m", "commands.cli", "--help"], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0 and "facealign" in out.stdout


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"facealign {version('facealign')}"


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_mlflow_artifact_bars_are_off_in_logs_and_on_at_a_terminal(monkeypatch) -> None:
    from mlflow.utils.file_utils import ArtifactProgressBar

    monkeypatch.delenv(ARTIFACT_BARS, raising=False)
    quiet_artifact_bars(_Stream(tty=True))
    assert ARTIFACT_BARS not in os.environ
    quiet_artifact_bars(_Stream(tty=False))  # a pipeline log
    assert os.environ[ARTIFACT_BARS] == "false"
    with ArtifactProgressBar.files(desc="Downloading artifacts", total=3) as bar:
        assert bar.pbar is None
    monkeypatch.setenv(ARTIFACT_BARS, "true")  # the user's choice wins
    quiet_artifact_bars(_Stream(tty=False))
    assert os.environ[ARTIFACT_BARS] == "true"
