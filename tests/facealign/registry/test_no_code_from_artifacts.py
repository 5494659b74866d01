"""Loading a registry version reads data from the artefact store and never runs its code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tiny_faces import NAME, encode, face_image, face_layout

from commands.cli import main

REPO = Path(__file__).resolve().parents[3]
PAYLOAD = "\nimport pathlib\npathlib.Path({marker!r}).write_text('artefact code ran')\n"


def _version_dir(client, version: str) -> Path:
    """The local directory of a version's artefacts in the test's file artefact store."""
    from mlflow.utils.file_utils import local_file_uri_to_path

    return Path(local_file_uri_to_path(client.get_model_version_download_uri(NAME, version)))


def _face_image(tmp_path: Path) -> tuple[Path, list[float]]:
    lm = face_layout() * [0.4, -0.4] + 60.0
    path = tmp_path / "face.jpg"
    path.write_bytes(encode(face_image(lm)))
    return path, [float(v) for v in np.r_[lm.min(0), lm.max(0)]]


def _predict(tmp_path: Path, model: str) -> int:
    image, box = _face_image(tmp_path)
    (tmp_path / "boxes.json").write_text(json.dumps({image.name: box}))
    return main(["predict", "--params", str(REPO / "params.yaml"), "--model", model, str(image),
                 "--boxes", str(tmp_path / "boxes.json"), "--output", str(tmp_path / "preds.json")])


def test_code_appended_to_a_versions_artefacts_is_not_executed_by_predict(registry, aligners, nmes,
                                                                         tmp_path: Path) -> None:
    import mlflow

    from facealign.registry import log_and_register

    # a version of its own, its artefacts under this test's directory (the seeded ones are shared)
    mlflow.create_experiment("tamper", artifact_location=(tmp_path / "artifacts").as_uri())
    cfg = {**registry["cfg"], "mlflow": {**registry["cfg"]["mlflow"], "experiment": "tamper"}}
    version = log_and_register(aligners["good"], nmes["good"], cfg, test_data_hash=registry["test_hash"])
    stored = _version_dir(registry["client"], version)
    assert stored.is_relative_to(tmp_path)
    marker = tmp_path / "pwned"
    payload = PAYLOAD.format(marker=str(marker))
    planted = [stored / "_mlflow_model.py", stored / "code" / "facealign" / "__init__.py"]
    for path in {*stored.rglob("*.py"), *planted}:  # every code file, and the ones older models had
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a") as fh:
            fh.write(payload)
    assert _predict(tmp_path, f"models:/{NAME}/{version}") == 0
    assert not marker.exists(), "a Python file of the artefact store was executed"
    (entry,) = json.loads((tmp_path / "preds.json").read_text())
    assert len(entry["faces"][0]["landmarks"]) == 68


LEGACY_MODEL = '''
import os, pathlib
import mlflow.models, mlflow.pyfunc
if os.environ.get("FACEALIGN_TEST_MARKER"):
    pathlib.Path(os.environ["FACEALIGN_TEST_MARKER"]).write_text("legacy model code ran")
class Legacy(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):
        return []
mlflow.models.set_model(Legacy())
'''


def test_a_version_logged_from_code_by_an_earlier_release_loads_without_running_it(
        registry, aligners, test_set, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlflow

    from facealign.evaluation import evaluate
    from facealign.registry.pyfunc import load_aligner_from_uri

    code = tmp_path / "_mlflow_model.py"
    code.write_text(LEGACY_MODEL)
    with mlflow.start_run():  # the layout of earlier releases: code file + artifacts/aligner
        info = mlflow.pyfunc.log_model(name="model", python_model=str(code), pip_requirements=["mlflow"],
                                       artifacts={"aligner": str(aligners["good"])})
    marker = tmp_path / "pwned"
    monkeypatch.setenv("FACEALIGN_TEST_MARKER", str(marker))
    aligner = load_aligner_from_uri(info.model_uri)
    assert not marker.exists(), "the stored models-from-code file was executed"
    metrics = evaluate(aligner, test_set, tmp_path / "m.json", n_overlays=0, progress=False)
    assert metrics["n_images"] == 9


@pytest.mark.parametrize(("uri", "named"), [
    (f"models:/{NAME}@nosuchalias", "nosuchalias"),
    ("models:/nosuchmodel@champion", "nosuchmodel"),
    (f"models:/{NAME}/99", "99"),
])
def test_an_unknown_alias_model_or_version_is_one_line_naming_it_and_the_registry(
        registry, tmp_path: Path, capsys: pytest.CaptureFixture[str], uri: str, named: str) -> None:
    assert _predict(tmp_path, uri) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert named in err and registry["uri"] in err
    assert not (tmp_path / "preds.json").exists()
