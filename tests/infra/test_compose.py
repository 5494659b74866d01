"""infra/docker-compose.yml and infra/.env.example, checked against the code they run.

No container engine runs here, so the file is parsed (PyYAML resolves the anchors and
merge keys as compose does) and every name in it is checked against what reads it: the
facealign CLI, MLflow's server options, the ports the programs listen on.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

import pytest
from infra_support import INFRA, REPO_ROOT, check_facealign_argv, load_yaml

COMPOSE_FILE = INFRA / "docker-compose.yml"
ENV_EXAMPLE = INFRA / ".env.example"
LOCAL_BINDS = ("${BIND_ADDRESS:-127.0.0.1}:", "127.0.0.1:")
VAR = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    (doc,) = load_yaml(COMPOSE_FILE)
    return doc


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {k.strip(): v.strip() for k, v in pairs}


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} with ``env`` (and $$ -> $)."""
    def sub(m: re.Match) -> str:
        name, op, arg = m.groups()
        if env.get(name):
            return env[name]
        assert op != "?", f"{name} is required: {arg}"
        return arg or ""
    return VAR.sub(sub, value).replace("$$", "$")


def test_the_stack_has_every_service_of_the_deployment(services):
    assert set(services) >= {"postgres", "minio", "minio-init", "mlflow", "ray-head", "ray-worker", "serving"}


def test_depends_on_names_existing_services_with_conditions_they_can_meet(services):
    for name, svc in services.items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy: no healthcheck"
            elif condition == "service_completed_successfully":
                assert services[dep].get("restart") == "no", f"{dep} is a one-shot job: restart must be 'no'"


def test_every_long_running_service_has_a_healthcheck_and_restarts(services):
    for name, svc in services.items():
        if name == "minio-init":
            continue
        assert "healthcheck" in svc, name
        assert svc.get("restart") == "unless-stopped", name


def test_published_ports_bind_to_loopback_by_default_and_postgres_is_not_published(services):
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert str(port).startswith(LOCAL_BINDS), f"{name} publishes {port} beyond loopback"
    assert "ports" not in services["postgres"]
    assert "ports" not in services["ray-worker"]
    assert env_example()["BIND_ADDRESS"] == "127.0.0.1"


def test_state_lives_in_declared_named_volumes(compose, services):
    declared = set(compose["volumes"])
    for name, svc in services.items():
        for mount in svc.get("volumes", []):
            source = mount.split(":")[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name} mounts undeclared volume {source}"
    assert any(m.endswith(":/var/lib/postgresql/data") for m in services["postgres"]["volumes"])
    assert any(m.endswith(":/data") for m in services["minio"]["volumes"])
    for ray in ("ray-head", "ray-worker"):  # Tune needs the same shared paths on every node
        assert services[ray]["volumes"] == services["ray-head"]["volumes"]
        assert "tuning-results:/app/tuning/results" in services[ray]["volumes"]


def test_passwords_have_no_defaults_and_env_example_holds_only_placeholders(compose):
    text = COMPOSE_FILE.read_text()
    for name, op, _ in VAR.findall(text):
        if re.search("PASSWORD|SECRET", name):
            assert op == "?", f"${{{name}}} must be required (:?), never defaulted"
    for key, value in env_example().items():
        if re.search("PASSWORD|SECRET", key):
            assert value.startswith("change-me"), f"{key} in .env.example must be a change-me placeholder"
    ignored = subprocess.run(["git", "check-ignore", "-q", "infra/.env"], cwd=REPO_ROOT)
    assert ignored.returncode == 0, "infra/.env must be git-ignored"
    tracked = subprocess.run(["git", "ls-files", "infra"], cwd=REPO_ROOT, capture_output=True, text=True)
    assert "infra/.env\n" not in tracked.stdout


def test_env_example_documents_exactly_the_variables_compose_reads():
    used = {name for name, _, _ in VAR.findall(COMPOSE_FILE.read_text())}
    documented = set(env_example())
    assert used - documented <= {"POSTGRES_IMAGE", "MINIO_IMAGE", "MC_IMAGE"}, used - documented
    assert documented <= used, f"documented but unused: {documented - used}"


def test_mlflow_uses_postgres_as_backend_store_and_proxies_artifacts_to_the_bucket(services):
    env = services["mlflow"]["environment"]
    values = {**env_example(), "POSTGRES_PASSWORD": "pw"}
    backend = interpolate(env["MLFLOW_BACKEND_STORE_URI"], values)
    # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the image installs psycopg2.
    assert backend == "postgresql+psycopg2://mlflow:pw@postgres:5432/mlflow"
    assert "psycopg2-binary" in (INFRA / "mlflow" / "Dockerfile").read_text()
    assert interpolate(env["MLFLOW_ARTIFACTS_DESTINATION"], values) == "s3://mlflow-artifacts"
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert "boto3" in (INFRA / "mlflow" / "Dockerfile").read_text()
    assert set(services["mlflow"]["depends_on"]) == {"postgres", "minio-init"}

    # The names are the ones MLflow reads: `mlflow server` options (read from the installed
    # sources: importing mlflow.cli takes seconds) and S3 client settings.
    from mlflow import environment_variables as ev

    mlflow_dir = Path(importlib.util.find_spec("mlflow").origin).parent
    cli = "".join((mlflow_dir / f).read_text() for f in ("cli/__init__.py", "utils/cli_args.py"))
    for option, name in (("--backend-store-uri", "MLFLOW_BACKEND_STORE_URI"),
                         ("--artifacts-destination", "MLFLOW_ARTIFACTS_DESTINATION")):
        assert re.search(rf'"{option}",\s*envvar="{name}"', cli), f"mlflow server no longer reads {name}"

    assert ev.MLFLOW_S3_ENDPOINT_URL.name in env
    assert ev.MLFLOW_SERVER_ALLOWED_HOSTS.name in env


def test_clients_reach_mlflow_by_a_url_the_server_listens_on_and_accepts(services):
    command = services["mlflow"]["command"]
    port = command[command.index("--port") + 1]
    url = f"http://mlflow:{port}"
    for name in ("ray-head", "ray-worker", "serving"):
        assert services[name]["environment"]["MLFLOW_TRACKING_URI"] == url, name
    assert f"{port}:{port}" in services["mlflow"]["ports"][0]
    assert port == "5000"
    allowed = interpolate(services["mlflow"]["environment"]["MLFLOW_SERVER_ALLOWED_HOSTS"], {}).split(",")
    from mlflow.server.security_utils import is_allowed_host_header

    for host in (f"mlflow:{port}", f"127.0.0.1:{port}", f"localhost:{port}"):
        assert is_allowed_host_header(allowed, host), host
    assert not is_allowed_host_header(allowed, "evil.example.com")


def test_facealign_reads_the_tracking_uri_the_containers_set(monkeypatch):
    from facealign.tracking import tracking_uri

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://mlflow:5000")
    assert tracking_uri({"mlflow": {"tracking_uri": "sqlite:///mlflow.db"}}) == "http://mlflow:5000"


def test_serving_follows_the_champion_on_the_port_it_publishes(services, facealign_parser):
    svc = services["serving"]
    command = svc["command"]
    check_facealign_argv(facealign_parser, command)
    assert command[:4] == ["facealign", "serve", "--model", "models:/face-alignment@champion"]
    port = command[command.index("--port") + 1]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # inside the container; published on loopback
    assert svc["ports"] == [f"${{BIND_ADDRESS:-127.0.0.1}}:{port}:{port}"]
    assert f"127.0.0.1:{port}/healthz" in " ".join(svc["healthcheck"]["test"])
    assert port == "8000"


def test_ray_worker_joins_the_head_on_its_gcs_port_and_the_dashboard_is_loopback_only(services):
    head, worker = services["ray-head"]["command"], services["ray-worker"]["command"]
    assert head[:3] == ["ray", "start", "--head"] and "--block" in head and "--block" in worker
    gcs_port = next(a.split("=")[1] for a in head if a.startswith("--port="))
    assert f"--address=ray-head:{gcs_port}" in worker
    dashboard = next(a.split("=")[1] for a in head if a.startswith("--dashboard-port="))
    assert services["ray-head"]["ports"] == [f"${{BIND_ADDRESS:-127.0.0.1}}:{dashboard}:{dashboard}"]
    assert f"127.0.0.1:{dashboard}/api/gcs_healthz" in " ".join(services["ray-head"]["healthcheck"]["test"])
    for name in ("ray-head", "ray-worker"):
        env = services[name]["environment"]
        assert env["AWS_ENDPOINT_URL_S3"] == env["DVC_S3_ENDPOINT"] == "http://minio:9000"


def test_project_services_build_the_project_image_from_infra_dockerfile(services):
    for name in ("ray-head", "ray-worker", "serving"):
        build = services[name]["build"]
        assert (INFRA / build["context"] / build["dockerfile"]).resolve() == INFRA / "Dockerfile", name
        assert services[name]["image"] == "${FACEALIGN_IMAGE:-facealign:0.1.0}"
    assert (INFRA / services["mlflow"]["build"]["context"] / "Dockerfile").is_file()


def test_minio_init_creates_private_buckets_and_a_scoped_access_key(services, tmp_path):
    """Runs the init script under /bin/sh with a stand-in ``mc`` that records its calls."""
    import json

    script = services["minio-init"]["command"][0].replace("$$", "$")
    fake_mc = tmp_path / "mc"
    fake_mc.write_text('#!/bin/sh\necho "mc $*" >> "$MC_LOG"\n')
    fake_mc.chmod(fake_mc.stat().st_mode | stat.S_IXUSR)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "MC_LOG": str(tmp_path / "calls"),
           **{k: v for k, v in env_example().items()}}
    proc = subprocess.run(["/bin/sh", "-c", script.replace("/tmp/", f"{tmp_path}/")], env=env,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    buckets = ("mlflow-artifacts", "facealign-dvc", "facealign-ray")
    for bucket in buckets:
        assert f"mc mb --ignore-existing local/{bucket}" in calls
        assert f"mc anonymous set none local/{bucket}" in calls
    assert "mc admin user add local facealign change-me-s3-secret" in calls
    assert any(c.startswith("mc admin policy attach local facealign --user facealign") for c in calls)
    policy = json.loads((tmp_path / "facealign-policy.json").read_text())
    resources = {r for st in policy["Statement"] for r in st["Resource"]}
    assert resources == {f"arn:aws:s3:::{b}{s}" for b in buckets for s in ("", "/*")}


def test_compose_commands_are_argv_lists_or_shell_scripts(services):
    for name, svc in services.items():
        command = svc.get("command")
        assert command is None or isinstance(command, list), f"{name}: use an argv list"
        if isinstance(command, list) and command and command[0] in ("facealign", "ray", "mlflow"):
            assert all(isinstance(a, str) for a in command)
            shlex.join(command)  # no nested structures
    assert os.access(INFRA / "dvc-remote-minio.sh", os.X_OK)


def test_every_variable_set_for_the_project_containers_is_read_by_something(services):
    """No dead settings: each name is read by facealign, the DVC remote script, Ray, or is an
    AWS SDK credential/endpoint variable (botocore, pyarrow and s3fs read those)."""
    aws_sdk = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION"}
    ray_dir = Path(importlib.util.find_spec("ray").origin).parent
    readers = [REPO_ROOT / "facealign" / "tracking.py", INFRA / "dvc-remote-minio.sh",
               ray_dir / "_common" / "usage" / "usage_constants.py"]
    sources = "".join(path.read_text() for path in readers)
    for name in ("ray-head", "ray-worker", "serving"):
        for key in services[name]["environment"]:
            assert key in aws_sdk or key in sources, f"{name}: nothing reads {key}"
