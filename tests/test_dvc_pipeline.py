"""The DVC pipeline as a DVC user drives it: tracked parameters are the ones the stages read.

``params.yaml`` is composed from ``conf/`` by DVC's Hydra composition on ``dvc exp run``; the
stage commands go through ``bin/facealign``, which finds the project's interpreter whichever way
``dvc`` was started.  The end-to-end test runs a real ``dvc repro`` and ``dvc exp run`` in a
throw-away git + DVC repository with ``PATH`` stripped of the virtual environment.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from facealign.config import compose_params, params_text

REPO = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"  # the console script of the interpreter running the tests
STAGE = """stages:
  seen:
    cmd: {launcher} params --get preset synthesize.n_train cascade.max_epochs > seen.txt
    params: [preset, synthesize, cascade]
    outs: [seen.txt]
"""


def _dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def test_every_stage_command_goes_through_the_launcher() -> None:
    for name, stage in _dvc_yaml()["stages"].items():
        assert " ".join(stage["cmd"].split()).startswith("bin/facealign "), name


def test_the_hydra_composition_is_enabled_with_conf_as_its_config_dir() -> None:
    text = (REPO / ".dvc" / "config").read_text()
    assert "[hydra]" in text and "enabled = true" in text
    assert (REPO / "conf" / "config.yaml").is_file()


def test_dvc_composes_the_same_params_yaml_as_the_project(tmp_path: Path) -> None:
    """`dvc exp run` without -S rewrites params.yaml byte for byte as committed."""
    hydra = pytest.importorskip("dvc.utils.hydra")
    out = tmp_path / "params.yaml"
    hydra.compose_and_dump(out, str(REPO / "conf"), None, "config", str(tmp_path), [])
    assert out.read_text() == (REPO / "params.yaml").read_text()
    hydra.compose_and_dump(out, str(REPO / "conf"), None, "config", str(tmp_path),
                           ["preset=fast_dev_run", "synthesize.n_train=100"])
    assert out.read_text() == params_text(compose_params(REPO / "conf", "fast_dev_run",
                                                         ["synthesize.n_train=100"]))


def _bare_env(tmp_path: Path) -> dict[str, str]:
    """No virtual environment on PATH, as after `.venv/bin/dvc repro` from a fresh shell."""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com", "DVC_NO_ANALYTICS": "1"}
    if Path(sys.prefix).resolve() != (REPO / ".venv").resolve():
        env["FACEALIGN_PYTHON"] = sys.executable  # not the project's .venv: name the interpreter
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=240)
    assert out.returncode == 0, f"{' '.join(args)}: {out.stdout}\n{out.stderr}"
    return out.stdout


def _seen(repo: Path) -> dict:
    return {k: json.loads(v) for k, v in (line.split(": ", 1) for line in
                                          (repo / "seen.txt").read_text().splitlines())}


@pytest.mark.skipif(not DVC.is_file() or shutil.which("git") is None, reason="needs git and the dvc script")
def test_a_preset_plus_an_override_is_what_the_stage_reads_and_what_dvc_tracks(tmp_path: Path) -> None:
    repo = tmp_path / "project"
    repo.mkdir()
    shutil.copytree(REPO / "conf", repo / "conf")
    shutil.copy(REPO / "params.yaml", repo / "params.yaml")
    (repo / "dvc.yaml").write_text(STAGE.format(launcher=REPO / "bin" / "facealign"))
    env = _bare_env(tmp_path)
    _run(["git", "init", "-q"], repo, env)
    _run([str(DVC), "init", "-q"], repo, env)
    shutil.copy(REPO / ".dvc" / "config", repo / ".dvc" / "config")  # hydra.enabled (+ a local remote)
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "base"], repo, env)

    _run([str(DVC), "repro", "-q"], repo, env)  # exit 127 when a stage says plain `facealign`
    assert _seen(repo) == {"preset": "default", "synthesize.n_train": 1500,
                           "cascade.max_epochs": [40, 28, 10]}
    _run(["git", "add", "-A"], repo, env)
    _run(["git", "commit", "-qm", "baseline"], repo, env)

    _run([str(DVC), "exp", "run", "-q", "-S", "preset=fast_dev_run", "-S", "synthesize.n_train=100"],
         repo, env)
    assert _seen(repo) == {"preset": "fast_dev_run", "synthesize.n_train": 100, "cascade.max_epochs": 1}
    diff = json.loads(_run([str(DVC), "params", "diff", "--json"], repo, env))["params.yaml"]
    changed = {key: (d["old"], d["new"]) for key, d in diff.items()}
    assert changed["synthesize.n_train"] == (1500, 100)
    assert changed["preset"] == ("default", "fast_dev_run")
    assert changed["cascade.max_epochs"][1] == 1  # the preset's own value (was [40, 28, 10])
    assert yaml.safe_load((repo / "params.yaml").read_text())["synthesize"]["n_train"] == 100


def test_the_launcher_finds_the_interpreter_without_an_activated_environment(tmp_path: Path) -> None:
    env = {k: v for k, v in _bare_env(tmp_path).items() if not k.startswith("GIT_")}
    out = _run([str(REPO / "bin" / "facealign"), "--version"], tmp_path, env)
    assert out.startswith("facealign ")
