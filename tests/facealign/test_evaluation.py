"""`facealign evaluate`: the benchmark protocol on any AFLW2000-3D-layout folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from commands.cli import main
from facealign.aligners.mean_shape import MeanShapeAligner
from facealign.evaluation import NO_VISIBILITY, evaluate, load_benchmark, write_evaluation
from faceeval import map_68_to_21
from faceeval.protocols import PROTOCOL_KEYS
from facegeom.morphable_model import MorphableModel

CONTRACT = {"nme_0_30", "nme_30_60", "nme_60_90", "nme_mean", "nme_std", "nme_sample_mean",
            "n_images", "n_0_30", "n_30_60", "n_60_90"}
ALL_KEYS = CONTRACT | set(PROTOCOL_KEYS) | {"visibility"}


def test_boxes_are_the_ground_truth_landmark_boxes(tiny_dataset: Path) -> None:
    bench = load_benchmark(tiny_dataset / "test")
    assert np.allclose(bench.boxes[:, :2], bench.landmarks.min(1))
    assert np.allclose(bench.boxes[:, 2:], bench.landmarks.max(1))


def test_mean_shape_metrics_follow_the_contract(tiny_model_path: Path, tiny_dataset: Path,
                                                 tmp_path: Path) -> None:
    model = MorphableModel.load(tiny_model_path)
    metrics = evaluate(MeanShapeAligner(model), tiny_dataset / "test", tmp_path / "m.json", progress=False,
                       face_model=model)
    written = json.loads((tmp_path / "m.json").read_text())
    assert set(written) == ALL_KEYS | {"aligner_hash"}
    assert written["aligner_hash"] is None  # built in memory: no directory to name
    assert metrics["n_images"] == 12 and metrics["n_0_30"] == 4
    assert metrics["n21_images"] == metrics["n_inner_images"] == 12
    assert metrics["visibility"] == "label mesh"  # the model that made the data: its own z-buffer
    # The frontal mean face fits frontal faces better than profiles, under every protocol.
    for prefix in ("nme", "nme21", "nme_inner"):
        assert 0 < metrics[f"{prefix}_0_30"] < metrics[f"{prefix}_60_90"]
    for suffix in ("_ced.csv", "_ced21.csv", "_ced_inner.csv", "_ced.png", "_overlays.png"):
        assert (tmp_path / f"m{suffix}").stat().st_size > 100


def test_the_benchmark_carries_the_annotations_21_points_and_the_label_visibility(
        tiny_model_path: Path, tiny_dataset: Path) -> None:
    bench = load_benchmark(tiny_dataset / "test", MorphableModel.load(tiny_model_path))
    written = np.stack([r.pt2d for r in bench.records])
    np.testing.assert_array_equal(np.isnan(bench.aflw21), np.isnan(written))
    assert bench.visible.shape == (12, 68) and not bench.visible.all()
    assert load_benchmark(tiny_dataset / "test").visibility == NO_VISIBILITY


def test_hidden_points_do_not_count_in_the_visible_protocols(tmp_path: Path) -> None:
    """Two faces (yaw 10 and 70), 100 x 100 px boxes; every 68-point prediction 3 px off, the
    hidden ones 300 px off: the 68-point NME sees the outliers, the visible protocols do not."""
    gt = np.zeros((2, 68, 2))
    gt[:, :, 0] = np.linspace(0, 100, 68)
    gt[:, :, 1] = np.linspace(100, 0, 68)
    visible = np.ones((2, 68), bool)
    visible[1, 36:42] = False  # the far eye of the profile
    pred = gt + (3.0, 0.0)
    pred[1, 36:42] += 300.0
    gt21 = map_68_to_21(gt)
    gt21[1, 6:9] = np.nan  # its AFLW points 7-9 are missing from the annotation
    metrics = write_evaluation("m", pred, gt, np.array([10.0, 70.0]), tmp_path / "m.json",
                               gt21=gt21, visible=visible, visibility="given")
    assert metrics["nme21_0_30"] == metrics["nme21_60_90"] == 3.0  # percent of the 100 px box
    assert metrics["nme_inner_0_30"] == metrics["nme_inner_60_90"] == 3.0
    assert metrics["nme_60_90"] > 20.0  # the 68-point protocol counts the hidden eye
    assert metrics["visibility"] == "given"



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
