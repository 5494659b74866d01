"""``facealign pipeline``: the summary it prints after ``dvc repro``."""

from __future__ import annotations

from facealign.commands.pipeline import promotion_line


def test_the_promotion_line_names_the_champion_its_family_nme_and_the_reason() -> None:
    promotion = {"model": "face-alignment", "alias": "champion", "decision": "kept",
                 "champion_version": "2", "reason": "v4 is not strictly better",
                 "compared": {"2": {"family": "cascade", "nme_mean": 6.8221},
                              "4": {"family": "sift_sdm", "nme_mean": 6.9}}}
    line = promotion_line(promotion)
    assert "face-alignment@champion = v2 (cascade, nme_mean 6.82 %)" in line
    assert "kept: v4 is not strictly better" in line


def test_a_champion_without_measured_nme_is_still_named() -> None:
    line = promotion_line({"decision": "kept", "champion_version": "3", "compared": {}})
    assert "= v3," in line
