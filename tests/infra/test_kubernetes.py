"""Kubernetes and KubeRay manifests (infra/k8s) and the Ray cluster launcher (infra/ray).

Validated statically: every document is parsed; names that tie resources together
(labels, Services, ConfigMaps, the RayJob's cluster) must match; commands must be ones the
facealign CLI and the sweep script accept; the launcher config must pass Ray's own schema.
"""

from __future__ import annotations

import copy
import re
import shlex
from importlib.metadata import version
from pathlib import Path

import pytest
from infra_support import INFRA, REPO_ROOT, argv_errors, check_facealign_argv, load_yaml

K8S = INFRA / "k8s"
IMAGE = "facealign:0.1.0"
NAMESPACE = "facealign"


def documents() -> list[tuple[Path, dict]]:
    return [(path, doc) for path in sorted(K8S.glob("*.yaml")) if path.name != "kustomization.yaml"
            for doc in load_yaml(path)]


def find(kind: str, name: str | None = None) -> dict:
    found = [d for _, d in documents() if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def pod_specs() -> list[tuple[str, dict]]:
    """Every pod template in the manifests: (where, pod spec)."""
    out = []
    for _, doc in documents():
        spec = doc.get("spec", {})
        if doc["kind"] == "Deployment":
            out.append((doc["metadata"]["name"], spec["template"]["spec"]))
        elif doc["kind"] == "RayCluster":
            out.append(("ray head", spec["headGroupSpec"]["template"]["spec"]))
            out += [(f"ray workers {g['groupName']}", g["template"]["spec"])
                    for g in spec["workerGroupSpecs"]]
        elif doc["kind"] == "RayJob":
            out.append(("ray job submitter", spec["submitterPodTemplate"]["spec"]))
    return out


def dvc_stages() -> set[str]:
    (doc,) = load_yaml(REPO_ROOT / "dvc.yaml")
    return set(doc["stages"])


def check_dvc_pull_command(text: str) -> None:
    """``infra/dvc-remote-minio.sh ... && dvc pull STAGE...``: the script exists, the stages too."""
    assert "infra/dvc-remote-minio.sh --local --default" in text
    stages = re.search(r"dvc pull ([\w ]+)", text).group(1).split()
    assert set(stages) <= dvc_stages(), set(stages) - dvc_stages()
    assert {"build_face_model", "synthesize"} <= set(stages)


def check_sweep_command(parser, text: str) -> list[str]:  # noqa: ANN001
    """The ``python tuning/sweep.py ...`` part of ``text``, checked by the sweep's own parser."""
    match = re.search(r"python tuning/sweep\.py([^\n&;|\"]*)", text)
    assert match, text
    argv = shlex.split(match.group(1))
    problem = argv_errors(parser, argv)
    assert problem is None, f"python tuning/sweep.py {' '.join(argv)}: {problem}"
    assert (REPO_ROOT / "tuning" / "sweep.py").is_file()
    return argv


def test_every_manifest_is_a_named_resource_in_the_facealign_namespace():
    kinds = set()
    for path, doc in documents():
        assert {"apiVersion", "kind", "metadata"} <= set(doc), path
        kinds.add(doc["kind"])
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{path}: {doc['kind']} outside {NAMESPACE}"
    assert find("Namespace")["metadata"]["name"] == NAMESPACE
    assert kinds == {"Namespace", "ConfigMap", "Deployment", "Service", "RayCluster", "RayJob"}


def test_kustomization_lists_existing_files_and_leaves_the_sweep_to_be_applied_on_demand():
    (kustomization,) = load_yaml(K8S / "kustomization.yaml")
    for resource in kustomization["resources"]:
        assert (K8S / resource).is_file(), resource
    assert "rayjob-sweep.yaml" not in kustomization["resources"]


def test_serving_service_selects_the_deployment_and_stays_inside_the_cluster(facealign_parser):
    deployment, service = find("Deployment", "facealign-serving"), find("Service", "facealign-serving")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"

    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    check_facealign_argv(facealign_parser, command)
    assert command[1:4] == ["serve", "--model", "models:/face-alignment@champion"]
    port = int(command[command.index("--port") + 1])
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    (svc_port,) = service["spec"]["ports"]
    assert named[svc_port["targetPort"]] == port == svc_port["port"] == 8000


def test_serving_is_ready_only_when_healthz_answers():
    deployment = find("Deployment", "facealign-serving")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        get = container[probe]["httpGet"]
        assert get["path"] == "/healthz" and get["port"] == "http", probe


def test_pods_run_the_project_image_as_the_unprivileged_image_user():
    dockerfile = (INFRA / "Dockerfile").read_text()
    assert "--uid 1000" in dockerfile and "\nUSER 1000:1000" in dockerfile
    for where, spec in pod_specs():
        containers = spec.get("initContainers", []) + spec["containers"]
        assert {c["image"] for c in containers} == {IMAGE}, where
        assert spec["securityContext"]["runAsNonRoot"] is True, where
        assert spec["securityContext"]["runAsUser"] == 1000, where


def test_pods_take_settings_from_the_configmap_and_credentials_from_a_secret_nobody_commits():
    config = find("ConfigMap", "facealign-config")
    readme = (INFRA / "README.md").read_text() if (INFRA / "README.md").is_file() else ""
    secret_refs = set()
    for where, spec in pod_specs():
        for container in spec.get("initContainers", []) + spec["containers"]:
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    assert source["configMapRef"]["name"] == config["metadata"]["name"], where
                if "secretRef" in source:
                    secret_refs.add(source["secretRef"]["name"])
    assert not any(d["kind"] == "Secret" for _, d in documents()), "secrets are created with kubectl"
    for name in secret_refs:
        assert f"create secret generic {name}" in readme, f"infra/README.md must say how to create {name}"


def test_configmap_keys_are_variables_the_code_reads():
    data = find("ConfigMap", "facealign-config")["data"]
    readers = {
        "MLFLOW_TRACKING_URI": (REPO_ROOT / "facealign" / "tracking.py").read_text(),
        "DVC_S3_ENDPOINT": (INFRA / "dvc-remote-minio.sh").read_text(),
    }
    for key, source in readers.items():
        assert key in data and key in source, key
    assert set(data) <= {*readers, "AWS_ENDPOINT_URL_S3", "AWS_DEFAULT_REGION", "RAY_USAGE_STATS_ENABLED"}
    assert data["AWS_ENDPOINT_URL_S3"] == data["DVC_S3_ENDPOINT"]


def test_raycluster_runs_the_installed_ray_version_with_a_cluster_internal_dashboard():
    cluster = find("RayCluster", "facealign-ray")
    assert cluster["apiVersion"] == "ray.io/v1"
    assert cluster["spec"]["rayVersion"] == version("ray")
    head = cluster["spec"]["headGroupSpec"]
    assert head.get("serviceType", "ClusterIP") == "ClusterIP"
    assert head["rayStartParams"]["dashboard-host"] == "0.0.0.0"  # reachable by the operator only
    groups = cluster["spec"]["workerGroupSpecs"]
    for params in [head["rayStartParams"]] + [g["rayStartParams"] for g in groups]:
        assert all(isinstance(v, str) for v in params.values()), "rayStartParams values must be strings"
    for group in groups:
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]


def test_every_ray_node_pulls_the_same_data_to_the_same_paths():
    mounts = None
    for where, spec in pod_specs():
        if not where.startswith("ray ") or "submitter" in where:
            continue
        (init,) = spec["initContainers"]
        check_dvc_pull_command(" ".join(init["command"] + init["args"]))
        (main,) = spec["containers"]
        data_mounts = [m for m in main["volumeMounts"] if m["name"] == "facealign-data"]
        assert data_mounts == init["volumeMounts"], where
        assert {m["mountPath"] for m in data_mounts} == {"/app/data", "/app/models"}
        assert mounts in (None, data_mounts)
        mounts = data_mounts


def test_rayjob_runs_an_accepted_sweep_on_the_raycluster(sweep_parser):
    job, cluster = find("RayJob"), find("RayCluster")
    assert job["spec"]["clusterSelector"] == {"ray.io/cluster": cluster["metadata"]["name"]}
    entrypoint = job["spec"]["entrypoint"]
    assert entrypoint.startswith("cd /app && ")
    argv = check_sweep_command(sweep_parser, entrypoint)
    storage = argv[argv.index("--storage-path") + 1]
    assert storage.startswith("s3://facealign-ray/"), "trials on several nodes need shared storage"


def test_cluster_launcher_config_passes_rays_own_schema():
    from ray.autoscaler._private.util import prepare_config, validate_config

    (config,) = load_yaml(INFRA / "ray" / "cluster.yaml")
    validate_config(prepare_config(copy.deepcopy(config)))
    assert config["docker"]["image"] == IMAGE
    assert "--env-file=/etc/facealign/ray.env" in config["docker"]["run_options"]


def test_cluster_launcher_keeps_the_dashboard_on_loopback_and_pulls_data_on_every_node(sweep_parser):
    (config,) = load_yaml(INFRA / "ray" / "cluster.yaml")
    head_start = " ".join(config["head_start_ray_commands"])
    assert "--dashboard-host=127.0.0.1" in head_start and "--port=6379" in head_start
    assert "$RAY_HEAD_IP:6379" in " ".join(config["worker_start_ray_commands"])
    for key in ("head_setup_commands", "worker_setup_commands"):
        check_dvc_pull_command(" ".join(config[key]))
    check_sweep_command(sweep_parser, (INFRA / "ray" / "cluster.yaml").read_text())


@pytest.mark.parametrize("path", ["docker-compose.yml", "ray/cluster.yaml", "k8s/raycluster.yaml",
                                  "k8s/rayjob-sweep.yaml", "k8s/serving.yaml", "README.md"])
def test_every_sweep_command_in_the_infra_files_is_accepted(path, sweep_parser):
    text = (INFRA / path).read_text() if (INFRA / path).is_file() else ""
    for match in re.finditer(r"python tuning/sweep\.py[^\n&;|\"`]*", text):
        check_sweep_command(sweep_parser, match.group(0))
