"""The images: infra/Dockerfile (training, sweeps, serving) and infra/mlflow/Dockerfile.

No container engine runs here: the Dockerfiles are read as text and their pins, defaults
and build context are checked against pyproject.toml and the code.
"""

from __future__ import annotations

import json
import re
import tomllib

from infra_support import INFRA, REPO_ROOT, check_facealign_argv

DOCKERFILE = (INFRA / "Dockerfile").read_text()
MLFLOW_DOCKERFILE = (INFRA / "mlflow" / "Dockerfile").read_text()
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def pin(package: str) -> str:
    """The exact version pyproject.toml pins ``package`` to."""
    for dep in PYPROJECT["project"]["dependencies"]:
        match = re.fullmatch(rf"{package}(?:\[[^\]]*\])?==([\w.]+)", dep.replace(" ", ""))
        if match:
            return match.group(1)
    raise AssertionError(f"pyproject.toml pins no exact {package} version")


def arg_default(text: str, name: str) -> str:
    return re.search(rf"^ARG {name}=(\S+)$", text, re.M).group(1)


def test_project_image_installs_the_pinned_torch_cpu_build_by_default():
    assert arg_default(DOCKERFILE, "TORCH_VERSION") == pin("torch") == "2.13.0"
    assert arg_default(DOCKERFILE, "TORCH_INDEX_URL") == "https://download.pytorch.org/whl/cpu"
    assert 'pip install --index-url "${TORCH_INDEX_URL}" "torch==${TORCH_VERSION}"' in DOCKERFILE


def test_the_cuda_variant_is_a_documented_build_argument():
    assert re.search(r"--build-arg TORCH_INDEX_URL=https://download\.pytorch\.org/whl/cu\d+", DOCKERFILE)
    readme = (INFRA / "README.md").read_text() if (INFRA / "README.md").is_file() else ""
    assert "TORCH_INDEX_URL=https://download.pytorch.org/whl/cu" in readme


def test_project_image_installs_the_project_dependencies_and_the_cluster_extras():
    assert "tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']" in DOCKERFILE
    assert '"ray[default]"' in DOCKERFILE  # dashboard + job server for `ray job submit` and KubeRay
    assert '"dvc-s3' in DOCKERFILE  # `dvc pull` from the MinIO remote on the nodes
    assert "pip install --no-deps -e ." in DOCKERFILE


def test_project_image_runs_as_an_unprivileged_user_owning_its_checkout():
    assert re.search(r"^USER 1000:1000$", DOCKERFILE, re.M)  # numeric: Kubernetes checks runAsNonRoot
    assert "useradd --create-home --uid 1000" in DOCKERFILE
    assert "COPY --chown=facealign:facealign . ." in DOCKERFILE
    assert "WORKDIR /app" in DOCKERFILE


def test_project_image_default_command_serves_the_champion_on_the_exposed_port(facealign_parser):
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", DOCKERFILE, re.M).group(1))
    check_facealign_argv(facealign_parser, cmd)
    port = cmd[cmd.index("--port") + 1]
    assert re.search(rf"^EXPOSE {port}$", DOCKERFILE, re.M)


def test_build_context_leaves_out_environments_data_and_credentials():
    ignored = {line.strip() for line in (INFRA / "Dockerfile.dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".venv/", "data/", "models/", ".dvc/cache/", ".dvc-remote/", "mlflow.db"} <= ignored
    assert {".env", "**/.env", ".dvc/config.local"} <= ignored
    assert ".git" not in ignored and ".git/" not in ignored  # commit tags and `dvc pull` need it


def test_mlflow_image_runs_the_client_version_with_the_postgres_and_s3_drivers():
    assert arg_default(MLFLOW_DOCKERFILE, "MLFLOW_VERSION") == pin("mlflow")
    assert '"mlflow==${MLFLOW_VERSION}"' in MLFLOW_DOCKERFILE
    assert "psycopg2-binary" in MLFLOW_DOCKERFILE and "boto3" in MLFLOW_DOCKERFILE
    assert re.search(r"^USER 1000:1000$", MLFLOW_DOCKERFILE, re.M)
