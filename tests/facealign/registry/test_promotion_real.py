"""Promotion decides by real-face NME when every candidate was measured on real faces, else
by the synthetic test NME; the real path re-evaluates versions measured on other real data.

Two candidates disagree: ``synthetic_best`` has the exact template the synthetic test faces
follow; ``real_best`` has a distorted template that the generated "real" faces follow.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image
from tiny_faces import NAME, face_image, face_model, mean_shape_dir

from commands.cli import main
from facealign.data import readers
from facealign.evaluation import folders_hash
from facealign.registry.promote import Judge

REAL_DISTORTION, REAL_SEED = 0.05, 7  # the "real" faces' layout and real_best's template


def write_layout_folder(folder: Path, n: int, seed: int) -> Path:
    """``n`` AFLW2000-3D-layout faces whose landmarks follow the distorted template."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    layout = face_model(REAL_DISTORTION, REAL_SEED).mean[:, :2].astype(np.float64) * [1, -1]
    layout -= layout.mean(0)
    for i in range(n):
        lm = layout * rng.uniform(0.3, 0.4) + 60 + rng.uniform(-4, 4, 2) + rng.normal(0, 0.5, (68, 2))
        yaw = np.radians((15, 45, 75)[i % 3])
        Image.fromarray(face_image(lm, 120)).save(folder / f"real_{i:03d}.jpg", quality=92)
        readers.write_face_mat(folder / f"real_{i:03d}.mat", lm, np.array([0, yaw, 0, 0, 0, 0, 1.0]),
                               np.zeros(2), np.zeros(1))
    return folder


@pytest.fixture(scope="module")
def real_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("real_faces")
    return [write_layout_folder(root / "a", 6, seed=11), write_layout_folder(root / "b", 3, seed=12)]


def _project(root: Path, registry: dict, test_set: Path, real_data: list[str]) -> Path:
    """A project with two candidates, their synthetic metrics, and ``paths.real_data``."""
    import shutil

    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    shutil.copytree(test_set, root / "data" / "synthetic" / "test")
    candidates = {"synthetic_best": mean_shape_dir(root / "models" / "synthetic_best", 0.0, seed=21),
                  "real_best": mean_shape_dir(root / "models" / "real_best", REAL_DISTORTION, REAL_SEED)}
    for name, directory in candidates.items():
        evaluate(load_aligner(str(directory)), test_set, root / "metrics" / f"{name}.json",
                 n_overlays=0, progress=False)
    cfg = {**registry["cfg"], "presets": {"default": {}},
           "paths": {**registry["cfg"]["paths"], "data": "data/synthetic", "metrics": "metrics",
                     "real_data": real_data}}
    cfg["registry"] = {**cfg["registry"], "candidates": {k: str(v) for k, v in candidates.items()}}
    (root / "params.yaml").write_text(yaml.safe_dump(cfg))
    return root / "params.yaml"


def _run(params: Path) -> dict:
    assert main(["evaluate-real", "--params", str(params)]) == 0
    assert main(["promote", "--params", str(params)]) == 0
    return json.loads((params.parent / "metrics" / "promotion.json").read_text())


def test_real_faces_decide_when_every_candidate_was_measured_on_them(registry, test_set, real_folders,
                                                                     tmp_path: Path) -> None:
    params = _project(tmp_path, registry, test_set, [str(f) for f in real_folders])
    synthetic = {n: json.loads((tmp_path / "metrics" / f"{n}.json").read_text())["nme_mean"]
                 for n in ("synthetic_best", "real_best")}
    assert synthetic["synthetic_best"] < synthetic["real_best"]
    record = _run(params)
    real = {n: json.loads((tmp_path / "metrics" / f"real_{n}.json").read_text())
            for n in ("synthetic_best", "real_best")}
    assert real["real_best"]["nme_mean"] < real["synthetic_best"]["nme_mean"]
    assert record["decided_by"] == "real" and record["decision"] == "promoted"
    assert record["champion_version"] == record["registered"]["real_best"]["version"]
    assert record["real_data_hash"] == folders_hash(real_folders) == real["real_best"]["real_data_hash"]
    assert record["real_data"] == [str(f) for f in real_folders]
    assert record["test_data_hash"] == registry["test_hash"]
    assert record["nme_best_candidate"] == pytest.approx(real["real_best"]["nme_mean"], rel=1e-4)
    tags = registry["client"].get_model_version(NAME, record["champion_version"]).tags
    assert float(tags["real_nme_mean"]) == pytest.approx(real["real_best"]["nme_mean"], rel=1e-4)
    assert tags["real_data_hash"] == record["real_data_hash"]
    assert {"real_nme_0_30", "real_nme_30_60", "real_nme_60_90", "nme_mean"} <= set(tags)
    assert all(c["source"] == "tags" for c in record["compared"].values())


def test_without_real_faces_the_synthetic_nme_decides(registry, test_set, tmp_path: Path) -> None:
    params = _project(tmp_path, registry, test_set, [str(tmp_path / "no-real-faces")])
    record = _run(params)
    assert json.loads((tmp_path / "metrics" / "real_real_best.json").read_text())["n_images"] == 0
    assert record["decided_by"] == "synthetic" and "real_data_hash" not in record
    assert record["champion_version"] == record["registered"]["synthetic_best"]["version"]
    assert record["test_data_hash"] == registry["test_hash"]
    tags = registry["client"].get_model_version(NAME, record["champion_version"]).tags
    assert "real_nme_mean" not in tags


def test_a_version_measured_on_other_real_data_is_re_evaluated_on_the_real_folders(registry, real_folders
                                                                                   ) -> None:
    v, client = registry["versions"], registry["client"]
    client.set_model_version_tag(NAME, v["fair"], "real_data_hash", "older-real-data")
    client.set_model_version_tag(NAME, v["fair"], "real_nme_mean", "0.5")
    real_hash = folders_hash(real_folders)
    judge = Judge(client, NAME, real_folders, real_hash, prefix="real_")
    measured = {name: judge.measure(v[name]) for name in ("good", "fair")}  # "good": never measured
    assert all(m.source == "evaluated" and m.score > 0.5 for m in measured.values())
    tags = client.get_model_version(NAME, v["fair"]).tags
    assert tags["real_data_hash"] == real_hash and float(tags["real_nme_mean"]) == pytest.approx(
        measured["fair"].score, rel=1e-4)
    assert "older-real-data" in tags["real_previous_measurement"]
    assert tags["test_data_hash"] == registry["test_hash"]  # the synthetic tags are untouched
    again = Judge(client, NAME, real_folders, real_hash, prefix="real_").measure(v["fair"])
    assert again.source == "tags" and again.score == pytest.approx(measured["fair"].score, rel=1e-4)
    assert again.to_json("candidate")["real_nme_mean"] == again.score
