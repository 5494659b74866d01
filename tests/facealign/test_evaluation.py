"""`facealign evaluate`: the benchmark protocol on any AFLW2000-3D-layout folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from commands.cli import main
from facealign.aligners.mean_shape import MeanShapeAligner
from facealign.evaluation import evaluate, load_benchmark
from facegeom.morphable_model import MorphableModel

CONTRACT = {"nme_0_30", "nme_30_60", "nme_60_90", "nme_mean", "nme_std", "nme_sample_mean",
            "n_images", "n_0_30", "n_30_60", "n_60_90"}


def test_boxes_are_the_ground_truth_landmark_boxes(tiny_dataset: Path) -> None:
    bench = load_benchmark(tiny_dataset / "test")
    assert np.allclose(bench.boxes[:, :2], bench.landmarks.min(1))
    assert np.allclose(bench.boxes[:, 2:], bench.landmarks.max(1))


def test_mean_shape_metrics_follow_the_contract(tiny_model_path: Path, tiny_dataset: Path,
                                                 tmp_path: Path) -> None:
    aligner = MeanShapeAligner(MorphableModel.load(tiny_model_path))
    metrics = evaluate(aligner, tiny_dataset / "test", tmp_path / "m.json", progress=False)
    written = json.loads((tmp_path / "m.json").read_text())
    assert set(written) == CONTRACT | {"aligner_hash"}
    assert written["aligner_hash"] is None  # built in memory: no directory to name
    assert metrics["n_images"] == 12 and metrics["n_0_30"] == 4
    # The frontal mean face fits frontal faces better than profiles.
    assert 0 < metrics["nme_0_30"] < metrics["nme_60_90"]
    for suffix in ("_ced.csv", "_ced.png", "_overlays.png"):
        assert (tmp_path / f"m{suffix}").stat().st_size > 100


def test_the_cli_names_a_corrupt_file_and_writes_nothing(tiny_model_path: Path, tiny_dataset: Path,
                                                         tmp_path: Path, capsys) -> None:
    folder = tmp_path / "broken"
    shutil.copytree(tiny_dataset / "test", folder)
    victim = sorted(folder.glob("*.mat"))[3]
    victim.write_bytes(b"not a mat file")
    code = main(["evaluate", "--model", "mean-shape", "--data", str(folder),
                 "--output", str(tmp_path / "out.json"), "--set", f"paths.face_model={tiny_model_path}"])
    assert code == 2
    assert victim.name in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


def test_metrics_record_the_content_hash_of_the_aligner_directory_measured(tiny_model_path: Path,
                                                                            tiny_dataset: Path,
                                                                            tmp_path: Path) -> None:
    from facealign.aligners.mean_shape import copy_mean_shape_aligner
    from facealign.manifest import aligner_hash
    from facealign.registry.loading import load_aligner

    directory = copy_mean_shape_aligner(tiny_model_path, tmp_path / "baseline")
    evaluate(load_aligner(str(directory)), tiny_dataset / "test", tmp_path / "dir.json", n_overlays=0,
             progress=False)
    assert json.loads((tmp_path / "dir.json").read_text())["aligner_hash"] == aligner_hash(directory)
    # mean-shape is the directory made of the face model file: the same hash, every time
    for name in ("a.json", "b.json"):
        assert main(["evaluate", "--model", "mean-shape", "--data", str(tiny_dataset / "test"),
                     "--output", str(tmp_path / name), "--set", f"paths.face_model={tiny_model_path}",
                     "--set", "evaluate.overlays=0"]) == 0
        assert json.loads((tmp_path / name).read_text())["aligner_hash"] == aligner_hash(directory)
    (directory / "face_model.npz").write_bytes((directory / "face_model.npz").read_bytes() + b"\0")
    assert aligner_hash(directory) != json.loads((tmp_path / "dir.json").read_text())["aligner_hash"]
