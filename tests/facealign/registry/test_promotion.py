"""Promotion moves ``champion`` to the lowest NME only when strictly better; rollback; races."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from tiny_faces import NAME

from facealign.registry import alias as aliases
from facealign.registry.promote import Judge, compare_and_set, promote, rollback


def _judge(registry, test_set: Path, **kwargs) -> Judge:
    return Judge(registry["client"], NAME, test_set, registry["test_hash"], **kwargs)


def _history(registry, version: str) -> list[dict]:
    tags = registry["client"].get_model_version(NAME, version).tags
    return json.loads(tags.get(aliases.HISTORY_TAG, "[]"))


def test_the_first_promotion_picks_the_lowest_nme(registry, test_set, nmes) -> None:
    v = registry["versions"]
    candidates = [v["poor"], v["good"], v["fair"]]
    record = promote(_judge(registry, test_set), "champion", candidates, registry["uri"])
    assert record["decision"] == "promoted" and record["previous_version"] is None
    assert record["champion_version"] == v["good"] == aliases.holder(registry["client"], NAME, "champion")
    assert record["compared"][v["poor"]]["nme_mean"] == pytest.approx(nmes["poor"]["nme_mean"])
    assert record["nme_best_candidate"] == pytest.approx(nmes["good"]["nme_mean"])
    assert record["test_data_hash"] == registry["test_hash"]
    entry = _history(registry, v["good"])[-1]
    assert entry["action"] == "promote" and entry["by"] == "tester@ci" and entry["at"]
    assert "no version held champion" in entry["reason"]


def test_a_worse_or_equal_candidate_leaves_the_champion_and_says_why(registry, test_set) -> None:
    v = registry["versions"]
    promote(_judge(registry, test_set), "champion", [v["fair"]], registry["uri"])
    worse = promote(_judge(registry, test_set), "champion", [v["poor"]], registry["uri"])
    assert worse["decision"] == "kept" and worse["champion_version"] == v["fair"]
    assert "not strictly better" in worse["reason"]
    same = promote(_judge(registry, test_set), "champion", [v["fair"]], registry["uri"])
    assert same["decision"] == "kept" and "is the best" in same["reason"]
    assert aliases.holder(registry["client"], NAME, "champion") == v["fair"]


def test_a_better_candidate_is_promoted_and_rollback_restores_the_previous_holder(registry, test_set) -> None:
    v, client = registry["versions"], registry["client"]
    promote(_judge(registry, test_set), "champion", [v["fair"]], registry["uri"])
    better = promote(_judge(registry, test_set), "champion", [v["good"], v["poor"]], registry["uri"])
    assert better["decision"] == "promoted"
    assert (better["previous_version"], better["champion_version"]) == (v["fair"], v["good"])
    assert better["nme_best_candidate"] < better["nme_previous"]
    back = rollback(client, NAME, "champion", registry["uri"], reason="bad feedback")
    assert back["champion_version"] == v["fair"] == aliases.holder(client, NAME, "champion")
    assert _history(registry, v["fair"])[-1]["action"] == "rollback"
    assert _history(registry, v["fair"])[-1]["reason"] == "bad feedback"
    assert _history(registry, v["good"])[-1]["action"] == "lost-by-rollback"
    with pytest.raises(ValueError, match="no previous holder"):
        rollback(client, NAME, "champion", registry["uri"])


def test_a_champion_measured_on_other_data_is_re_evaluated_on_the_current_test_set(registry, test_set,
                                                                                    nmes) -> None:
    v, client = registry["versions"], registry["client"]
    client.set_registered_model_alias(NAME, "champion", v["fair"])
    client.set_model_version_tag(NAME, v["fair"], "test_data_hash", "older-data")
    client.set_model_version_tag(NAME, v["fair"], "nme_mean", "0.5")  # looked better on other data
    record = promote(_judge(registry, test_set), "champion", [v["good"]], registry["uri"])
    assert record["compared"][v["fair"]]["source"] == "evaluated"
    assert record["nme_previous"] == pytest.approx(nmes["fair"]["nme_mean"], rel=1e-3)
    assert record["decision"] == "promoted" and record["champion_version"] == v["good"]
    tags = client.get_model_version(NAME, v["fair"]).tags
    assert tags["test_data_hash"] == registry["test_hash"] and "older-data" in tags["previous_measurement"]


def test_compare_and_set_keeps_a_better_holder_set_by_someone_else(registry, test_set) -> None:
    v, client = registry["versions"], registry["client"]
    judge = _judge(registry, test_set)
    client.set_registered_model_alias(NAME, "champion", v["good"])  # moved after our read of "none"
    holder, what = compare_and_set(judge, "champion", None, judge.measure(v["fair"]), "test")
    assert holder == v["good"] and "kept" in what
    assert aliases.holder(client, NAME, "champion") == v["good"]


def test_racing_promotions_end_on_the_better_model(registry, test_set) -> None:
    v = registry["versions"]
    results: list[dict] = []
    start = threading.Barrier(2)

    def run(candidate: str) -> None:
        judge = _judge(registry, test_set)
        start.wait()
        results.append(promote(judge, "champion", [candidate], registry["uri"]))

    threads = [threading.Thread(target=run, args=(v[name],)) for name in ("poor", "good")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 2
    assert aliases.holder(registry["client"], NAME, "champion") == v["good"]


def test_a_champion_that_no_longer_loads_is_replaced(registry, test_set, tmp_path: Path) -> None:
    import shutil

    import mlflow

    v, client = registry["versions"], registry["client"]
    model = Path(mlflow.artifacts.download_artifacts(f"models:/{NAME}/{v['fair']}"))
    broken = tmp_path / "broken"
    shutil.copytree(model, broken)
    from facealign.registry.pyfunc import aligner_dir_of

    (aligner_dir_of(broken) / "aligner.json").write_text('{"family": "sift_sdm"}')  # no weights
    tags = {"family": "sift_sdm", "nme_mean": "0.01", "test_data_hash": registry["test_hash"]}
    bad = client.create_model_version(NAME, source=str(broken), tags=tags).version
    client.set_registered_model_alias(NAME, "champion", bad)
    record = promote(_judge(registry, test_set), "champion", [v["good"]], registry["uri"])
    assert record["decision"] == "promoted" and record["champion_version"] == v["good"]
    assert "failed to load" in record["compared"][str(bad)]["error"]
    assert "failed to load" in record["reason"]
