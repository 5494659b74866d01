"""The `facealign` console command: subcommands, help, and clean errors."""

import subprocess
import sys

import pytest

from commands.cli import main


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
