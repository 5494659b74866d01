"""``facealign promote`` end to end: registers the pipeline's aligners once, writes
``metrics/promotion.json``, prints the serve command; ``--rollback``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from tiny_faces import NAME, mean_shape_dir

from commands.cli import main


@pytest.fixture
def project(registry, aligners, nmes, test_set, registry_root: Path, tmp_path: Path) -> Path:
    """A project folder whose params name three candidates: one new, one registered, one absent."""
    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    shutil.copytree(test_set, tmp_path / "data" / "synthetic" / "test")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    new = mean_shape_dir(tmp_path / "models" / "new", 0.01, seed=5)
    evaluate(load_aligner(str(new)), test_set, metrics / "new.json", n_overlays=0, progress=False)
    shutil.copy(registry_root / "metrics" / "poor.json", metrics / "poor.json")
    cfg = {**registry["cfg"], "paths": {**registry["cfg"]["paths"], "data": "data/synthetic",
                                        "metrics": "metrics"}}
    cfg["registry"] = {**cfg["registry"], "candidates": {"new": str(new), "poor": str(aligners["poor"]),
                                                         "absent": "models/absent"}}
    cfg["presets"] = {"default": {}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def test_promote_registers_new_aligners_once_and_records_the_decision(project: Path, registry,
                                                                      capsys) -> None:
    client = registry["client"]
    n_before = len(client.search_model_versions(f"name = '{NAME}'"))
    assert main(["promote", "--params", str(project / "params.yaml")]) == 0
    out = capsys.readouterr().out
    record = json.loads((project / "metrics" / "promotion.json").read_text())
    assert record["registered"]["new"]["status"] == "registered"
    assert record["registered"]["poor"] == {"version": registry["versions"]["poor"],
                                            "status": "already registered"}
    assert record["registered"]["absent"]["version"] is None
    assert record["decision"] == "promoted"
    assert record["champion_version"] == record["registered"]["new"]["version"]
    for key in ("previous_version", "nme_previous", "nme_best_candidate", "compared", "test_data_hash"):
        assert key in record
    assert "facealign serve --model models:/face-alignment@champion" in out
    assert len(client.search_model_versions(f"name = '{NAME}'")) == n_before + 1

    assert main(["promote", "--params", str(project / "params.yaml")]) == 0
    again = json.loads((project / "metrics" / "promotion.json").read_text())
    assert again["decision"] == "kept" and again["registered"]["new"]["status"] == "already registered"
    assert len(client.search_model_versions(f"name = '{NAME}'")) == n_before + 1


def test_rollback_without_a_previous_holder_exits_2_and_says_so(project: Path, registry, capsys) -> None:
    registry["client"].set_registered_model_alias(NAME, "champion", registry["versions"]["fair"])
    assert main(["promote", "--rollback", "--params", str(project / "params.yaml")]) == 2
    assert "no previous holder" in capsys.readouterr().err


def test_a_retrained_candidate_is_refused_when_its_metrics_describe_its_predecessor(
        project: Path, registry, capsys) -> None:
    """Reproduces the report: a retrained model registered with the previous model's NME."""
    client = registry["client"]
    assert main(["promote", "--params", str(project / "params.yaml")]) == 0
    champion = json.loads((project / "metrics" / "promotion.json").read_text())["champion_version"]
    n_before = len(client.search_model_versions(f"name = '{NAME}'"))
    shutil.rmtree(project / "models" / "new")
    mean_shape_dir(project / "models" / "new", 0.08, seed=9)  # retrained, worse, not re-evaluated
    capsys.readouterr()
    assert main(["promote", "--params", str(project / "params.yaml")]) == 0
    out = capsys.readouterr().out
    record = json.loads((project / "metrics" / "promotion.json").read_text())
    status = record["registered"]["new"]["status"]
    assert status.startswith("refused") and "metrics/new.json" in status and "aligner_hash" not in status
    assert record["refused"] == {"new": status} and record["registered"]["new"]["version"] is None
    assert [line for line in out.splitlines() if line.startswith("new:")] == [f"new: - ({status})"]
    assert len(client.search_model_versions(f"name = '{NAME}'")) == n_before, "nothing registered"
    assert record["champion_version"] == champion


def test_a_metrics_file_without_an_aligner_hash_is_refused(project: Path, registry) -> None:
    metrics = project / "metrics" / "new.json"
    old = json.loads(metrics.read_text())
    del old["aligner_hash"]  # written before metrics named the aligner they measured
    metrics.write_text(json.dumps(old))
    assert main(["promote", "--params", str(project / "params.yaml")]) == 0
    record = json.loads((project / "metrics" / "promotion.json").read_text())
    assert "records no aligner_hash" in record["refused"]["new"]
