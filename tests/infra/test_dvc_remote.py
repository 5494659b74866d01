"""DVC remotes: the project's default remote, a real push/pull round trip, the MinIO remote script.

DVC runs as the user runs it: the environment's ``dvc`` command, in throwaway git + DVC
repositories, with global/system config and site cache isolated in the test's temp dir.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from infra_support import INFRA, REPO_ROOT, venv_command

DVC = venv_command("dvc")
SCRIPT = INFRA / "dvc-remote-minio.sh"

STAGE_CMD = (
    "python -c \"import pathlib; d = pathlib.Path('out'); d.mkdir(exist_ok=True); "
    "[(d / f'part{i}.txt').write_text(f'face {i}\\\\n' * 100) for i in range(3)]\""
)


@pytest.fixture
def dvc_env(tmp_path: Path) -> dict[str, str]:
    """Environment that keeps DVC's global config, system config and site cache in tmp."""
    cfg = tmp_path / "dvc-home"
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "DVC_GLOBAL_CONFIG_DIR": str(cfg / "global"),
           "DVC_SYSTEM_CONFIG_DIR": str(cfg / "system"), "DVC_SITE_CACHE_DIR": str(cfg / "site"),
           "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(cfg)}
    # The script finds `dvc` on PATH, as after `source .venv/bin/activate`.
    env["PATH"] = f"{Path(DVC[0]).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=180)
    if check and proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    return proc


def new_project(path: Path, env: dict[str, str]) -> Path:
    path.mkdir()
    run(["git", "init", "-q"], path, env)
    run([*DVC, "init", "-q"], path, env)
    return path


def test_the_project_default_remote_is_the_git_ignored_folder_inside_the_clone(dvc_env):
    listing = run([*DVC, "remote", "list"], REPO_ROOT, dvc_env).stdout
    defaults = [line.split() for line in listing.splitlines() if "(default)" in line]
    assert len(defaults) == 1, listing
    name, url = defaults[0][:2]
    assert Path(url).resolve() == (REPO_ROOT / ".dvc-remote").resolve(), listing
    ignored = run(["git", "check-ignore", "-q", ".dvc-remote/files/md5"], REPO_ROOT, dvc_env, check=False)
    assert ignored.returncode == 0, ".dvc-remote must be git-ignored"


def test_push_wipe_pull_restores_the_outputs_and_the_pipeline_is_up_to_date(tmp_path, dvc_env):
    project = new_project(tmp_path / "project", dvc_env)
    remote = tmp_path / "remote"
    dvc_yaml = f"stages:\n  make_data:\n    cmd: {STAGE_CMD}\n    outs:\n      - out\n"
    (project / "dvc.yaml").write_text(dvc_yaml)
    run([*DVC, "remote", "add", "-d", "storage", str(remote)], project, dvc_env)
    run([*DVC, "repro"], project, dvc_env)
    produced = {p.name: p.read_text() for p in (project / "out").iterdir()}
    assert len(produced) == 3

    run([*DVC, "push"], project, dvc_env)
    assert any(p.is_file() for p in remote.rglob("*")), "dvc push stored nothing in the remote"

    run(["rm", "-rf", str(project / ".dvc" / "cache"), str(project / "out")], project, dvc_env)
    assert "not in cache" in run([*DVC, "status"], project, dvc_env).stdout

    run([*DVC, "pull"], project, dvc_env)
    assert {p.name: p.read_text() for p in (project / "out").iterdir()} == produced
    assert "Data and pipelines are up to date" in run([*DVC, "status"], project, dvc_env).stdout
    assert "in sync" in run([*DVC, "status", "--cloud"], project, dvc_env).stdout
    assert "up to date" in run([*DVC, "repro"], project, dvc_env).stdout.lower()


def test_minio_remote_script_shares_url_and_endpoint_but_keeps_credentials_out_of_git(tmp_path, dvc_env):
    project = new_project(tmp_path / "project", dvc_env)
    env = {**dvc_env, "AWS_ACCESS_KEY_ID": "facealign", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-42"}
    run([str(SCRIPT), "--default", "--endpoint", "http://127.0.0.1:9000"], project, env)

    shared = (project / ".dvc" / "config").read_text()
    assert "remote = minio" in shared
    assert "url = s3://facealign-dvc" in shared
    assert "endpointurl = http://127.0.0.1:9000" in shared
    assert "not-a-real-secret-42" not in shared and "access_key_id" not in shared

    local = (project / ".dvc" / "config.local").read_text()
    assert "access_key_id = facealign" in local
    assert "secret_access_key = not-a-real-secret-42" in local
    assert run(["git", "check-ignore", "-q", ".dvc/config.local"], project, env, check=False).returncode == 0
    assert "config.local" not in run(["git", "status", "--porcelain", "--untracked-files=all"],
                                      project, env).stdout

    listing = run([*DVC, "remote", "list"], project, env).stdout
    assert "minio" in listing and "s3://facealign-dvc" in listing and "(default)" in listing


def test_minio_remote_script_local_mode_leaves_the_shared_config_untouched(tmp_path, dvc_env):
    project = new_project(tmp_path / "project", dvc_env)
    before = (project / ".dvc" / "config").read_text()
    env = {**dvc_env, "AWS_ACCESS_KEY_ID": "facealign", "AWS_SECRET_ACCESS_KEY": "not-a-real-secret-42"}
    run([str(SCRIPT), "--local", "--endpoint", "http://minio:9000", "--bucket", "team-data"], project, env)
    assert (project / ".dvc" / "config").read_text() == before
    local = (project / ".dvc" / "config.local").read_text()
    assert "url = s3://team-data" in local and "endpointurl = http://minio:9000" in local


def test_minio_remote_script_refuses_the_placeholder_secret_from_env_example(tmp_path, dvc_env):
    project = new_project(tmp_path / "project", dvc_env)
    env = {**dvc_env, "AWS_ACCESS_KEY_ID": "facealign", "AWS_SECRET_ACCESS_KEY": "change-me-s3-secret"}
    proc = run([str(SCRIPT)], project, env, check=False)
    assert proc.returncode != 0 and "placeholder" in proc.stderr
    assert not (project / ".dvc" / "config.local").exists()
