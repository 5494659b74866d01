"""Specs of the evaluation outputs: metrics JSON contract, CED CSV/PNG, overlay grid, table."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from faceeval import (
    ced_auc,
    ced_curve,
    format_table,
    summarize,
    write_ced,
    write_metrics,
    write_overlay_grid,
)

CONTRACT_KEYS = {
    "nme_0_30",
    "nme_30_60",
    "nme_60_90",
    "nme_mean",
    "nme_std",
    "nme_sample_mean",
    "n_images",
    "n_0_30",
    "n_30_60",
    "n_60_90",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 5_000


def test_metrics_json_has_exactly_the_contract_keys(tmp_path: Path) -> None:
    rep = summarize(np.array([0.02, 0.03, 0.05]), np.array([10.0, 40.0, 80.0]))
    path = tmp_path / "metrics" / "cnn.json"  # parent created
    write_metrics(rep, path)
    data = json.loads(path.read_text())
    assert set(data) == CONTRACT_KEYS
    assert data["nme_mean"] == pytest.approx(10.0 / 3, abs=1e-4)  # percent
    assert all(isinstance(data[k], int) for k in CONTRACT_KEYS if k.startswith("n_"))
    assert [p.name for p in path.parent.iterdir()] == ["cnn.json"]  # no temp file left


def test_metrics_json_writes_empty_bins_as_null(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    write_metrics(summarize(np.array([0.02]), np.array([0.0])), path)
    data = json.loads(path.read_text())
    assert data["nme_30_60"] is None and data["nme_60_90"] is None
    assert data["nme_mean"] == pytest.approx(2.0) and data["nme_std"] is None  # one bin: no std


def test_ced_is_monotone_and_reaches_one() -> None:
    nme = np.random.default_rng(0).uniform(0.0, 0.08, size=200)
    thresholds, frac = ced_curve(nme, max_nme=0.10, n=101)
    assert thresholds.shape == frac.shape == (101,)
    assert thresholds[0] == 0.0 and thresholds[-1] == pytest.approx(0.10)
    assert np.all(np.diff(frac) >= 0)
    assert np.all(frac[thresholds >= nme.max()] == 1.0)


def test_ced_counts_images_at_or_below_threshold() -> None:
    thresholds, frac = ced_curve(np.array([0.01, 0.02, 0.03, 0.20]), max_nme=0.04, n=5)
    np.testing.assert_allclose(frac, [0.0, 0.25, 0.5, 0.75, 0.75])


def test_ced_auc() -> None:
    assert ced_auc(np.zeros(5)) == 1.0
    assert ced_auc(np.array([0.5])) == 0.0
    assert ced_auc(np.array([0.035]), limit=0.07) == pytest.approx(0.5)


def test_write_ced_csv_and_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    models = {"cnn": rng.uniform(0, 0.06, 50), "sdm": rng.uniform(0, 0.09, 50)}
    csv_path, png_path = tmp_path / "plots" / "ced.csv", tmp_path / "plots" / "ced.png"
    write_ced(models, csv_path, png_path, n=101)
    with csv_path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["nme", "fraction", "model"]
    assert len(rows) == 2 * 101
    cnn = [r for r in rows if r["model"] == "cnn"]
    assert float(cnn[0]["nme"]) == 0.0 and float(cnn[-1]["nme"]) == pytest.approx(10.0)  # %
    assert float(cnn[-1]["fraction"]) == 1.0
    _assert_png(png_path)


def test_write_overlay_grid_png(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 255, (120, 100, 3), dtype=np.uint8) for _ in range(5)]
    gt = rng.uniform(10, 90, size=(5, 68, 2))
    path = tmp_path / "grid.png"
    write_overlay_grid(images, gt + 2.0, gt, path, titles=[f"img{i}" for i in range(5)], cols=3)
    _assert_png(path)
    with pytest.raises(ValueError):
        write_overlay_grid(images[:2], gt, gt, tmp_path / "bad.png")


def test_format_table_lists_models_and_columns() -> None:
    a = summarize(np.array([0.02, 0.04]), np.array([0.0, 45.0])).to_dict()
    table = format_table({"cnn": a, "sdm": {"nme_mean": 4.5, "n_images": 3}})
    lines = table.splitlines()
    assert lines[0].split() == [
        "model",
        "nme_0_30",
        "nme_30_60",
        "nme_60_90",
        "nme_mean",
        "nme_std",
        "n_images",
        "nme21_mean",
        "nme_inner_mean",
    ]
    assert lines[2].split()[:2] == ["cnn", "2.00"]
    assert lines[3].split() == ["sdm", "-", "-", "-", "4.50", "-", "3", "-", "-"]
