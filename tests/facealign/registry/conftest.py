"""Registry fixtures: a tiny test set, three mean-shape aligners of known quality, and an
MLflow sqlite registry per test (copied from one seeded once per session, so each test
starts from the same versions and no alias without paying for migrations and logging)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tiny_faces import NAME, mean_shape_dir, write_test_folder

# distortion of each aligner's template (fraction of the face size): lower is better
QUALITY = {"good": 0.0, "fair": 0.02, "poor": 0.06}


@pytest.fixture(autouse=True)
def _quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    monkeypatch.setenv("FACEALIGN_ACTOR", "tester@ci")


@pytest.fixture(scope="session")
def registry_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="session")
def test_set(registry_root: Path) -> Path:
    """A 9-image AFLW2000-3D-layout folder (3 per yaw bin) of dot-drawn tiny faces."""
    return write_test_folder(registry_root / "data" / "synthetic" / "test")


@pytest.fixture(scope="session")
def aligners(registry_root: Path) -> dict[str, Path]:
    """Saved mean-shape aligner directories ``good`` < ``fair`` < ``poor`` by NME."""
    return {name: mean_shape_dir(registry_root / "models" / name, d, seed=3) for name, d in QUALITY.items()}


@pytest.fixture(scope="session")
def nmes(aligners: dict[str, Path], test_set: Path, registry_root: Path) -> dict[str, dict]:
    """Each aligner's metrics on the test set (written to ``metrics/<name>.json``)."""
    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    return {name: evaluate(load_aligner(str(path)), test_set, registry_root / "metrics" / f"{name}.json",
                           n_overlays=0, progress=False) for name, path in aligners.items()}


def make_cfg(root: Path) -> dict:
    return {"preset": "default",
            "paths": {"data": str(root / "data" / "synthetic"), "metrics": str(root / "metrics"),
                      "face_model": str(root / "models" / "face_model.npz")},
            "evaluate": {"overlays": 0},
            "mlflow": {"tracking_uri": f"sqlite:///{root / 'mlflow.db'}", "experiment": "facealign"},
            "registry": {"name": NAME, "alias": "champion", "reevaluate": False, "candidates": {}}}


@pytest.fixture(scope="session")
def seeded(registry_root: Path, aligners: dict[str, Path], nmes: dict[str, dict],
           test_set: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A registry holding v1 = good, v2 = fair, v3 = poor (no alias); returns its facts."""
    import os

    from facealign.registry import log_and_register
    from facealign.tracking import data_hash

    seed_dir = tmp_path_factory.mktemp("seed")
    cfg = make_cfg(seed_dir)
    old = os.getcwd()
    env = os.environ.get("MLFLOW_TRACKING_URI")
    os.environ["MLFLOW_TRACKING_URI"] = cfg["mlflow"]["tracking_uri"]
    os.chdir(seed_dir)  # MLflow puts artifacts under the working directory
    try:
        test_hash = data_hash(test_set)
        versions = {name: log_and_register(aligners[name], nmes[name], cfg, test_data_hash=test_hash)
                    for name in ("good", "fair", "poor")}
    finally:
        os.chdir(old)
        if env is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = env
    return {"db": seed_dir / "mlflow.db", "versions": versions, "test_hash": test_hash}


@pytest.fixture
def registry(seeded: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A private copy of the seeded registry; MLFLOW_TRACKING_URI points at it. Yields
    ``cfg``, ``client``, ``versions`` (name -> version), ``test_hash``, ``uri``."""
    import mlflow
    from mlflow import MlflowClient

    shutil.copy(seeded["db"], tmp_path / "mlflow.db")
    cfg = make_cfg(tmp_path)
    uri = cfg["mlflow"]["tracking_uri"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    previous = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    yield {"cfg": cfg, "client": MlflowClient(tracking_uri=uri, registry_uri=uri), "uri": uri,
           "versions": seeded["versions"], "test_hash": seeded["test_hash"]}
    mlflow.set_tracking_uri(previous)
