"""`dvc plots show` and `dvc metrics show` as a DVC user sees them after `make run`.

One CED chart per test set overlays every model (top-level ``plots:`` of ``dvc.yaml``), every
CED / overlay PNG is a stage plot, the HTML page renders in a browser with the network off
(``.dvc/plots/offline_page.html`` carries vega), and the metric files are committed with the
code so `dvc metrics diff` and `dvc exp show` have a baseline.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DVC = Path(sys.executable).parent / "dvc"
MODELS = ("mean_shape", "cascade", "dff_sdm", "sift_sdm")


def _dvc_yaml() -> dict:
    return yaml.safe_load((REPO / "dvc.yaml").read_text())


def _entries(stage: dict, kind: str) -> list[str]:
    return [next(iter(e)) if isinstance(e, dict) else e for e in stage.get(kind, [])]


def test_one_ced_chart_per_test_set_overlays_every_model() -> None:
    charts = {next(iter(p)): next(iter(p.values())) for p in _dvc_yaml()["plots"] if isinstance(p, dict)}
    for chart, prefix in (("ced_synthetic", ""), ("ced_real", "real_")):
        assert charts[chart]["x"] == "nme"
        assert charts[chart]["y"] == {f"metrics/{prefix}{m}_ced.csv": "fraction" for m in MODELS}


def test_every_ced_and_overlay_png_is_a_plot_and_every_csv_an_output() -> None:
    stages = _dvc_yaml()["stages"]
    plots = {p for s in stages.values() for p in _entries(s, "plots")}
    outs = {p for s in stages.values() for p in _entries(s, "outs")}
    for prefix in ("", "real_"):
        for m in MODELS:
            assert {f"metrics/{prefix}{m}_ced.png", f"metrics/{prefix}{m}_overlays.png"} <= plots
            assert f"metrics/{prefix}{m}_ced.csv" in outs


def test_the_metric_files_are_committed_with_the_code() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files", "metrics"], cwd=REPO, capture_output=True,
                                 text=True, check=True).stdout.split())
    stages = _dvc_yaml()["stages"]
    declared = {p for s in stages.values() for p in _entries(s, "metrics")}
    small = {p for s in stages.values() for p in _entries(s, "outs") if p.startswith("metrics/")}
    assert declared and declared | small <= tracked, sorted((declared | small) - tracked)
    for path in declared:
        record = json.loads((REPO / path).read_text())
        assert record, path


def _tiny_plot_files(root: Path) -> None:
    """CED CSVs and PNGs where dvc.yaml declares them (values made up, shapes as written)."""
    (root / "metrics").mkdir()
    for prefix in ("", "real_"):
        for i, m in enumerate(MODELS):
            rows = [f"{x / 10:.4f},{min(1.0, x / (30 + 10 * i)):.6f},{m}" for x in range(0, 101)]
            (root / "metrics" / f"{prefix}{m}_ced.csv").write_text("nme,fraction,model\n" + "\n".join(rows))
            for kind in ("ced", "overlays"):
                Image.new("RGB", (8, 8), (200, 30 * i, 0)).save(root / "metrics" / f"{prefix}{m}_{kind}.png")
    Image.new("RGB", (8, 8)).save(root / "metrics" / "matching_pair.png")


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.skip("headless Chromium not installed (Debian package `chromium`)")


@pytest.mark.skipif(not DVC.is_file(), reason="needs the dvc script of this interpreter")
def test_dvc_plots_show_renders_the_ced_charts_with_the_network_off(tmp_path: Path) -> None:
    chromium = _chromium()
    project = tmp_path / "project"
    project.mkdir()
    shutil.copy(REPO / "dvc.yaml", project / "dvc.yaml")
    subprocess.run([str(DVC), "init", "--no-scm", "-q"], cwd=project, check=True)
    shutil.copy(REPO / ".dvc" / "config", project / ".dvc" / "config")  # plots.html_template
    shutil.copytree(REPO / ".dvc" / "plots", project / ".dvc" / "plots")
    _tiny_plot_files(project)
    subprocess.run([str(DVC), "plots", "show", "-o", "out"], cwd=project, check=True, capture_output=True)
    page = (project / "out" / "index.html").read_text()
    assert "cdn.jsdelivr" not in page and "<script src=" not in page
    assert page.count('<img src="static/') == 17
    # every http(s) request goes to a closed port: the page must bring its own vega
    browser = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--proxy-server=127.0.0.1:9",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", "--dump-dom"]
    dom = subprocess.run([*browser, (project / "out" / "index.html").as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    for chart in ("ced_synthetic", "ced_real"):
        start = dom.index(f'id="{chart}"')
        assert "<canvas" in dom[start:start + 600] or "<svg" in dom[start:start + 600], chart
