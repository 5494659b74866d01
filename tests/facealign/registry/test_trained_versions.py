"""A trained aligner's version comes from its training run; ``facealign promote`` finds it by
content hash, gives it the measured NMEs and registers nothing new; smoke runs register
into their own model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from tiny_faces import NAME, mean_shape_dir

from commands.cli import main
from facealign.config import load_params
from facealign.registry.register import aligner_hash
from facealign.registry.trained import register_trained
from facealign.tracking import training_run

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_promote_reuses_the_version_registered_by_the_training_run(registry, test_set,
                                                                   tmp_path: Path) -> None:
    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner

    client, cfg = registry["client"], registry["cfg"]
    trained = mean_shape_dir(tmp_path / "models" / "trained", 0.005, seed=7)
    with training_run(cfg, "fit_tiny", "mean_shape") as run:
        version = register_trained(trained, cfg)
    mv = client.get_model_version(NAME, version)
    assert mv.run_id == run.info.run_id and mv.tags["source_run"] == run.info.run_id
    assert mv.tags["registered_by"] == "training" and mv.tags["aligner_hash"] == aligner_hash(trained)
    assert "nme_mean" not in mv.tags and "test_data_hash" not in mv.tags  # not measured yet
    # the run page's "Registered models": the versions whose run is this one
    of_run = client.search_model_versions(f"run_id = '{run.info.run_id}'")
    assert [str(v.version) for v in of_run] == [version]
    with training_run(cfg, "fit_tiny", "mean_shape"):  # a retraining that produced the same content
        assert register_trained(trained, cfg) == version

    metrics = evaluate(load_aligner(str(trained)), test_set, tmp_path / "metrics" / "trained.json",
                       n_overlays=0, progress=False)
    params = {**cfg, "presets": {"default": {}}}
    params["paths"] = {**cfg["paths"], "data": str(test_set.parent), "metrics": str(tmp_path / "metrics")}
    params["registry"] = {**cfg["registry"], "candidates": {"trained": str(trained)}}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    n_versions = len(client.search_model_versions(f"name = '{NAME}'"))
    assert main(["promote", "--params", str(tmp_path / "params.yaml")]) == 0

    record = json.loads((tmp_path / "metrics" / "promotion.json").read_text())
    assert record["registered"]["trained"] == {"version": version, "status": "already registered"}
    assert record["compared"][version]["source"] == "tags"  # measured by the evaluate stage, not again
    assert len(client.search_model_versions(f"name = '{NAME}'")) == n_versions
    tags = client.get_model_version(NAME, version).tags
    assert float(tags["nme_mean"]) == pytest.approx(metrics["nme_mean"], rel=1e-4)
    assert tags["test_data_hash"] == record["test_data_hash"]
    logged = client.get_run(run.info.run_id).data.metrics  # the training run shows the test figures
    assert logged["test_nme_mean"] == pytest.approx(metrics["nme_mean"])


def test_smoke_runs_register_into_their_own_model() -> None:
    assert load_params(PARAMS)["registry"]["name"] == NAME
    smoke = load_params(PARAMS, preset="fast_dev_run")["registry"]["name"]
    assert smoke != NAME and smoke.startswith(NAME)
