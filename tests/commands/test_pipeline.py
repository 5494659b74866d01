"""``facealign pipeline``: the summary it prints after ``dvc repro``."""

from __future__ import annotations

import json
from pathlib import Path

from commands.pipeline import promotion_line, summary

ROW = {"nme_0_30": 3.1, "nme_30_60": 4.2, "nme_60_90": 5.3, "nme_mean": 4.2, "nme_std": 0.9,
       "nme_sample_mean": 4.0, "n_images": 6, "n_0_30": 2, "n_30_60": 2, "n_60_90": 2}


def test_the_promotion_line_names_the_champion_its_family_nme_and_the_reason() -> None:
    promotion = {"model": "face-alignment", "alias": "champion", "decision": "kept",
                 "champion_version": "2", "reason": "v4 is not strictly better",
                 "compared": {"2": {"family": "cascade", "nme_mean": 6.8221},
                              "4": {"family": "sift_sdm", "nme_mean": 6.9}}}
    line = promotion_line(promotion)
    assert "face-alignment@champion = v2 (cascade, nme_mean 6.82 %)" in line
    assert "kept by synthetic data: v4 is not strictly better" in line


def test_a_champion_without_measured_nme_is_still_named() -> None:
    line = promotion_line({"decision": "kept", "champion_version": "3", "compared": {}})
    assert "= v3," in line


def test_a_real_decision_shows_the_real_nme() -> None:
    line = promotion_line({"decision": "promoted", "champion_version": "5", "decided_by": "real",
                           "reason": "v5 NME 7.1 < v2 NME 8.0 on real data",
                           "compared": {"5": {"family": "dff_sdm", "real_nme_mean": 7.1}}})
    assert "= v5 (dff_sdm, real_nme_mean 7.10 %), promoted by real data" in line


def _write(folder: Path, name: str, record: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(record))


def test_the_summary_prints_the_synthetic_and_the_real_table(tmp_path: Path) -> None:
    real = {**ROW, "nme_mean": 9.87, "real_data": ["../shared/data/real/aflw2000_dev"], "real_data_hash": "h"}
    _write(tmp_path, "cascade", ROW)
    _write(tmp_path, "real_cascade", real)
    _write(tmp_path, "real_sift_sdm", {"skipped": "models/sift_sdm is not a saved aligner", "n_images": 0})
    _write(tmp_path, "promotion", {"decision": "promoted", "champion_version": "1", "decided_by": "real",
                                   "compared": {"1": {"family": "cascade", "real_nme_mean": 9.87}}})
    text = summary(tmp_path)
    synthetic, rest = text.split("NME (%) on real faces")
    assert "NME (%) on the synthetic test set" in synthetic and "4.2" in synthetic and "9.87" not in synthetic
    assert "(../shared/data/real/aflw2000_dev, 6 images)" in rest and "9.87" in rest
    assert "skipped: sift_sdm (models/sift_sdm is not a saved aligner)" in rest
    assert "promoted by real data" in rest


def test_the_summary_says_why_the_real_evaluation_was_skipped(tmp_path: Path) -> None:
    _write(tmp_path, "cascade", ROW)
    reason = "no real data: none of paths.real_data ['/x'] is a folder with .mat annotations"
    _write(tmp_path, "real_cascade", {"skipped": reason, "n_images": 0})
    text = summary(tmp_path)
    assert "NME (%) on the synthetic test set" in text
    assert f"real-face evaluation skipped: {reason}" in text and "on real faces" not in text
