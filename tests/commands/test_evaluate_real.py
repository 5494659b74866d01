"""``facealign evaluate-real``: every registry candidate on the union of the real folders of
``paths.real_data``; a skipped record (exit 0) when no folder or no aligner exists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tiny_faces import mean_shape_dir, write_test_folder

from commands.cli import main
from facealign.manifest import aligner_hash
from faceeval.protocols import PROTOCOL_KEYS

CONTRACT = {"nme_0_30", "nme_30_60", "nme_60_90", "nme_mean", "nme_std", "nme_sample_mean",
            "n_images", "n_0_30", "n_30_60", "n_60_90", *PROTOCOL_KEYS, "visibility"}
CED_FILES = ("_ced.csv", "_ced21.csv", "_ced_inner.csv", "_ced.png", "_overlays.png")


def _params(root: Path, real_data: list[str], candidates: dict[str, str]) -> Path:
    cfg = {"preset": "default", "presets": {"default": {}},
           "paths": {"face_model": str(root / "models" / "face_model.npz"), "metrics": str(root / "metrics"),
                     "real_data": real_data},
           "evaluate": {"overlays": 4}, "registry": {"candidates": candidates}}
    path = root / "params.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def real_folders(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two AFLW2000-3D-layout folders: 6 and 3 dot-drawn faces."""
    root = tmp_path_factory.mktemp("real")
    return [write_test_folder(root / "a", n=6, seed=1), write_test_folder(root / "b", n=3, seed=2)]


def test_every_candidate_is_scored_on_the_union_of_the_folders(real_folders: list[Path], tmp_path: Path,
                                                               capsys) -> None:
    from facealign.evaluation import folders_hash

    good = mean_shape_dir(tmp_path / "models" / "good", 0.0, seed=3)
    poor = mean_shape_dir(tmp_path / "models" / "poor", 0.06, seed=3)
    folders = [str(f) for f in real_folders] + [str(tmp_path / "not-there")]
    params = _params(tmp_path, folders, {"good": str(good), "poor": str(poor),
                                         "absent": str(tmp_path / "models" / "absent")})
    assert main(["evaluate-real", "--params", str(params)]) == 0
    metrics = {n: json.loads((tmp_path / "metrics" / f"real_{n}.json").read_text())
               for n in ("good", "poor", "absent")}
    for name in ("good", "poor"):
        assert set(metrics[name]) == CONTRACT | {"real_data", "real_data_hash", "aligner_hash"}
        assert metrics[name]["aligner_hash"] == aligner_hash(tmp_path / "models" / name)
        assert metrics[name]["n_images"] == 9  # 6 + 3: the missing folder is left out
        assert metrics[name]["real_data"] == [str(f) for f in real_folders]
        assert metrics[name]["real_data_hash"] == folders_hash(real_folders)
        for suffix in CED_FILES:
            assert (tmp_path / "metrics" / f"real_{name}{suffix}").stat().st_size > 100
    assert metrics["good"]["nme_mean"] < metrics["poor"]["nme_mean"]
    assert metrics["absent"]["n_images"] == 0 and "models/absent" in metrics["absent"]["skipped"]
    out = capsys.readouterr().out
    assert "NME (%) on real faces" in out and "9 images" in out


def test_no_existing_folder_writes_skipped_records_and_succeeds(tmp_path: Path) -> None:
    good = mean_shape_dir(tmp_path / "models" / "good", 0.0, seed=3)
    missing = [str(tmp_path / "nope1"), str(tmp_path / "nope2")]
    params = _params(tmp_path, missing, {"good": str(good)})
    assert main(["evaluate-real", "--params", str(params)]) == 0
    record = json.loads((tmp_path / "metrics" / "real_good.json").read_text())
    assert set(record) == {"skipped", "n_images"} and record["n_images"] == 0
    assert all(path in record["skipped"] for path in missing)
    for suffix in CED_FILES:  # the stage's declared outputs exist
        assert (tmp_path / "metrics" / f"real_good{suffix}").is_file()


def test_the_folder_hash_does_not_depend_on_their_order(real_folders: list[Path]) -> None:
    from facealign.evaluation import folders_hash, load_benchmark

    assert folders_hash(real_folders) == folders_hash(real_folders[::-1])
    assert folders_hash(real_folders[:1]) != folders_hash(real_folders)
    assert len(load_benchmark(real_folders).records) == 9
    assert len(load_benchmark(real_folders[0]).records) == 6
