"""The project against real servers: PostgreSQL, an MLflow tracking server on it, the model server.

What a team member does on the shared deployment, with the deployment's own variable
names (MLFLOW_BACKEND_STORE_URI, MLFLOW_ARTIFACTS_DESTINATION for the server,
MLFLOW_TRACKING_URI for everyone else): train and log over HTTP, register, move
``champion`` with ``facealign promote``, serve ``models:/face-alignment@champion``, align
an image. Then PostgreSQL itself is asked what the server stored.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from infra_support import REPO_ROOT, free_port, stop, venv_command, wait_for_http

REGISTERED = "face-alignment"

NEEDED = {"facealign.registry.register": "the registry API (facealign/registry)",
          "commands.promote": "`facealign promote`",
          "commands.serve": "`facealign serve`", "serving.app": "the serving app (serving/)"}


def require_built() -> None:
    missing = [what for module, what in NEEDED.items() if importlib.util.find_spec(module) is None]
    if missing:
        pytest.skip(f"not built yet: {', '.join(missing)}")


def client_env(server_url: str) -> dict[str, str]:
    env = {**os.environ, "MLFLOW_TRACKING_URI": server_url, "MPLBACKEND": "Agg"}
    env.pop("MLFLOW_REGISTRY_URI", None)
    return env


def facealign(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    proc = subprocess.run([*venv_command("facealign"), *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    command = shlex.join(["facealign", *args])
    assert proc.returncode == 0, f"{command} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


def multipart(fields: dict[str, str], files: dict[str, tuple[str, bytes]]) -> tuple[bytes, str]:
    boundary = "facealign-infra-test-boundary"
    parts = []
    for name, value in fields.items():
        head = f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
        parts.append(head.encode() + value.encode() + b"\r\n")
    for name, (filename, data) in files.items():
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"'
                "\r\nContent-Type: image/jpeg\r\n\r\n")
        parts.append(head.encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def test_train_register_promote_and_serve_against_postgres_backed_mlflow(
    mlflow_server, postgres, tiny_model_path, tiny_dataset, tmp_path
):
    require_built()
    env = client_env(mlflow_server.url)
    common = ["--params", str(REPO_ROOT / "params.yaml"), "--set", f"paths.data={tiny_dataset}",
              "--set", f"paths.face_model={tiny_model_path}",
              "--set", f"paths.metrics={tmp_path / 'metrics'}"]

    # 1. Train a tiny model in its own process; it logs and registers over HTTP.
    job = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("train_tiny_mean_shape.py")), str(tiny_model_path),
         str(tiny_dataset), str(tmp_path / "work")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert job.returncode == 0, f"training job failed:\n{job.stderr[-3000:]}"
    trained = json.loads(job.stdout.strip().splitlines()[-1])
    version = trained["version"]

    # 2. Move the alias with the project's promotion command.
    promotion_file = tmp_path / "promotion.json"
    facealign(["promote", *common, "--version", version, "--data", str(tiny_dataset / "test"),
               "--output", str(promotion_file)], tmp_path, env)
    promotion = json.loads(promotion_file.read_text())
    assert promotion["decision"] == "promoted" and str(promotion["champion_version"]) == version

    # 3. PostgreSQL holds the run, its metrics, the version and the alias; artifacts went
    #    through the server's proxy into its artifact destination.
    with postgres.connect() as conn, conn.cursor() as cur:
        cur.execute("SELECT status FROM runs WHERE run_uuid = %s", (trained["run_id"],))
        assert cur.fetchone() == ("FINISHED",)
        cur.execute("SELECT value FROM latest_metrics WHERE run_uuid = %s AND key = 'nme_mean'",
                    (trained["run_id"],))
        assert cur.fetchone()[0] == pytest.approx(trained["metrics"]["nme_mean"])
        cur.execute("SELECT version FROM registered_model_aliases WHERE name = %s AND alias = 'champion'",
                    (REGISTERED,))
        assert cur.fetchone() == (int(version),)
        cur.execute("SELECT value FROM model_version_tags WHERE name = %s AND version = %s AND key = "
                    "'test_data_hash'", (REGISTERED, int(version)))
        assert cur.fetchone() == (trained["test_data_hash"],)
        cur.execute("SELECT artifact_location FROM experiments WHERE name = 'facealign'")
        assert cur.fetchone()[0].startswith("mlflow-artifacts:")
    stored = [p for p in mlflow_server.artifacts.rglob("*") if p.is_file()]
    assert any(p.name == "aligner.json" for p in stored), "the model's files are not in the artifact store"

    # 4. Serve the champion from the server and align an image over HTTP.
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "w") as log_file:
        server = subprocess.Popen(
            [*venv_command("facealign"), "serve", *common, "--model", f"models:/{REGISTERED}@champion",
             "--host", "127.0.0.1", "--port", str(port), "--poll-interval", "0"],
            cwd=tmp_path, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for_http(f"{base}/healthz", server, log, timeout=120)
        with urllib.request.urlopen(f"{base}/v1/model", timeout=10) as resp:
            assert str(json.load(resp)["version"]) == version

        image = sorted((tiny_dataset / "test").glob("*.jpg"))[0]
        body, content_type = multipart({"box": "8,8,56,56"}, {"image": (image.name, image.read_bytes())})
        request = urllib.request.Request(f"{base}/v1/align", data=body, method="POST",
                                         headers={"Content-Type": content_type})
        with urllib.request.urlopen(request, timeout=60) as resp:
            answer = json.load(resp)
        (face,) = answer["faces"]
        assert len(face["landmarks"]) == 68 and len(face["visible"]) == 68
        assert all(8 - 20 <= x <= 56 + 20 and 8 - 20 <= y <= 56 + 20 for x, y in face["landmarks"])
        assert set(face["pose"]) == {"yaw", "pitch", "roll"}
    finally:
        stop(server)


def test_postgres_binaries_are_found_from_the_override_or_the_newest_debian_version(tmp_path, monkeypatch):
    from infra_support import postgres_bindir

    for version in ("13", "15", "9"):
        bindir = tmp_path / "debian" / version / "bin"
        bindir.mkdir(parents=True)
        for name in ("initdb", "postgres"):
            (bindir / name).write_text("")
    monkeypatch.delenv("FACEALIGN_PG_BINDIR", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    assert postgres_bindir(tmp_path / "debian") == tmp_path / "debian" / "15" / "bin"
    monkeypatch.setenv("FACEALIGN_PG_BINDIR", str(tmp_path / "debian" / "13" / "bin"))
    assert postgres_bindir(tmp_path / "debian") == tmp_path / "debian" / "13" / "bin"
    monkeypatch.delenv("FACEALIGN_PG_BINDIR")
    assert postgres_bindir(tmp_path / "nowhere") is None  # -> the server tests skip and say why
