"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real reference data beside the checkout (``../shared`` or ``$FACEALIGN_SHARED``).

    Tests that read real data skip when it is absent, as in a user's fresh clone.
    """
    path = Path(os.environ.get("FACEALIGN_SHARED", REPO_ROOT.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.skip(f"real reference data not found at {path} (set FACEALIGN_SHARED)")
    return path / "data"


@pytest.fixture(scope="session")
def tiny_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small procedural face model (6 identity, 4 expression components) saved as .npz."""
    from facegeom.procedural_face import build_procedural_model

    path = tmp_path_factory.mktemp("tiny_model") / "face_model.npz"
    build_procedural_model(n_id=6, n_exp=4, resolution=24, seed=0).save(path)
    return path


@pytest.fixture(scope="session")
def tiny_dataset(tiny_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic dataset folder with ``train`` (24 images) and ``test`` (12) splits at 64 px."""
    from facealign.data.synthesize import SynthesisConfig, synthesize_split

    out = tmp_path_factory.mktemp("tiny_data")
    cfg = SynthesisConfig(image_size=64, seed=3)
    synthesize_split(tiny_model_path, cfg, "train", 24, out, workers=1, progress=False)
    synthesize_split(tiny_model_path, cfg, "test", 12, out, workers=1, progress=False)
    return out


@pytest.fixture(autouse=True)
def _mlflow_state_does_not_leak_between_tests():
    """End any MLflow run a test left active and restore ``MLFLOW_TRACKING_URI``.

    MLflow keeps its active-run stack and tracking URI per process; without this, one
    test's leftovers decide where the next test's runs go.
    """
    saved = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    mlflow = sys.modules.get("mlflow")
    if mlflow is not None:
        while mlflow.active_run() is not None:
            mlflow.end_run()
    if saved is None:
        os.environ.pop("MLFLOW_TRACKING_URI", None)
    else:
        os.environ["MLFLOW_TRACKING_URI"] = saved


@pytest.fixture(scope="session")
def head_model():
    """The hand-made head of :mod:`head_model` (tests/support): SDM tests' small morphable model."""
    from head_model import make_head_model

    return make_head_model()
