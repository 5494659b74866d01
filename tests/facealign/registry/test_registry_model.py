"""The registered model: tags, self-contained artifacts, pyfunc contract, loading by URI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tiny_faces import NAME, encode, face_image, face_layout


def _face_upload() -> tuple[bytes, np.ndarray, str]:
    lm = face_layout() * [0.4, -0.4] + 60.0
    box = np.r_[lm.min(0), lm.max(0)]
    return encode(face_image(lm)), lm, ",".join(f"{v:.1f}" for v in box)


def test_a_version_carries_family_nmes_test_data_hash_commit_and_source_run(registry, nmes) -> None:
    client, version = registry["client"], registry["versions"]["good"]
    mv = client.get_model_version(NAME, version)
    tags = mv.tags
    assert tags["family"] == "mean_shape"
    for key in ("nme_mean", "nme_0_30", "nme_30_60", "nme_60_90"):
        assert float(tags[key]) == pytest.approx(nmes["good"][key], rel=1e-4)
    assert tags["test_data_hash"] == registry["test_hash"]
    assert tags["git_commit"] and tags["source_run"] == mv.run_id
    assert client.get_run(mv.run_id).data.metrics["nme_mean"] == pytest.approx(nmes["good"]["nme_mean"])
    assert len(tags["aligner_hash"]) == 32


def test_the_logged_model_carries_data_only_and_names_the_package_as_its_loader(registry) -> None:
    import mlflow
    import yaml
    from mlflow.models import Model

    from facealign.registry.pyfunc import LOADER_MODULE, aligner_dir_of

    local = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/{registry['versions']['good']}"))
    aligner = aligner_dir_of(local)
    assert (aligner / "aligner.json").is_file() and (aligner / "face_model.npz").is_file()
    assert not list(local.rglob("*.py")), "no Python file travels with the model"
    assert not list(local.rglob("*.pkl")), "the model must load without unpickling"
    flavor = yaml.safe_load((local / "MLmodel").read_text())["flavors"]["python_function"]
    assert flavor["loader_module"] == LOADER_MODULE
    assert not flavor.get("code"), "no code_paths: the installed package is the code"
    requirements = (local / "requirements.txt").read_text()
    assert "facealign==" in requirements, "the package is the model's requirement"
    assert "mlflow==3.17.2" in requirements and "torch==" in requirements
    meta = Model.load(local / "MLmodel")
    assert meta.signature is not None
    assert [c.name for c in meta.signature.inputs.inputs] == ["image", "box", "name"]
    assert meta.saved_input_example_info is not None


def test_the_pyfunc_answers_the_prediction_contract_for_bytes_with_and_without_a_box(registry) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{registry['versions']['good']}")
    data, lm, box = _face_upload()
    out = model.predict(pd.DataFrame({"image": [data, data], "box": [box, None], "name": ["a.jpg", None]}))
    assert [r["image"] for r in out] == ["a.jpg", "1"]
    face = out[0]["faces"][0]
    assert len(face["landmarks"]) == 68 and len(face["visible"]) == 68
    assert set(face["pose"]) == {"yaw", "pitch", "roll"} and len(face["params"]) > 6
    err = np.linalg.norm(np.array(face["landmarks"]) - lm, axis=1).mean()
    assert err < 1.5, "the exact-template aligner recovers the drawn face from its box"
    assert len(out[1]["faces"]) >= 1  # no box: detected, else the whole image


def test_the_pyfunc_accepts_an_rgb_array_and_refuses_garbage(registry) -> None:
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(f"models:/{NAME}/{registry['versions']['good']}")
    raw = model.get_raw_model()
    _, lm, box = _face_upload()
    out = raw.predict({"image": [face_image(lm)], "box": [box]})
    assert len(out[0]["faces"][0]["landmarks"]) == 68
    with pytest.raises(ValueError, match="readable image"):
        model.predict(pd.DataFrame({"image": [b"not an image"]}))


def test_load_aligner_by_registry_uri_needs_no_training_directory(registry, aligners, test_set,
                                                                  tmp_path: Path) -> None:
    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    moved = tmp_path / "moved"
    shutil.copytree(aligners["fair"], moved)  # the registry copy must not point at the source
    direct = evaluate(load_aligner(str(moved)), test_set, tmp_path / "a.json", n_overlays=0, progress=False)
    shutil.rmtree(moved)
    version = registry["versions"]["fair"]
    via_uri = evaluate(load_aligner(f"models:/{NAME}/{version}"), test_set,
                       tmp_path / "b.json", n_overlays=0, progress=False)
    assert via_uri["nme_mean"] == pytest.approx(direct["nme_mean"])
    # the registry copy is the same content: metrics of either name the version's aligner_hash
    tag = registry["client"].get_model_version(NAME, version).tags["aligner_hash"]
    assert via_uri["aligner_hash"] == direct["aligner_hash"] == tag
    assert json.loads((tmp_path / "b.json").read_text())["n_images"] == 9


def test_a_non_facealign_model_uri_is_refused(registry) -> None:
    import mlflow

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input, params=None):
            return model_input

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="echo", python_model=Echo(), pip_requirements=["mlflow"])
    from facealign.registry.pyfunc import load_aligner_from_uri

    with pytest.raises(ValueError, match="not a facealign model"):
        load_aligner_from_uri(info.model_uri)
