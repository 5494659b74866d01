"""``facealign evaluate-matching``: DFF vs SIFT matching precision across view-angle differences."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "match two rendered views of one face with DFF and SIFT; precision and match counts per yaw gap"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="DFF extractor directory (default: dff.output)")
    parser.add_argument("--output", help="metrics JSON (default: <paths.metrics>/matching.json); "
                                         "the figure goes beside it as <stem>_pair.png")


def run(args: argparse.Namespace, cfg: dict) -> int:
    import time

    from facealign.matching import evaluate_matching
    from facealign.matching_plot import save_correspondence_figure
    from facealign.models.dff_extractor import load_dff_extractor
    from facegeom.morphable_model import MorphableModel

    sec = cfg["matching"]
    output = Path(args.output or Path(cfg["paths"]["metrics"]) / "matching.json")
    model = MorphableModel.load(cfg["paths"]["face_model"])
    extractor = load_dff_extractor(args.model or cfg["dff"]["output"])
    start = time.perf_counter()
    metrics, examples = evaluate_matching(model, extractor.describe, extractor.image_size, sec)
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=2) + "\n")
    figure = output.with_name(f"{output.stem}_pair.png")
    save_correspondence_figure(examples, model, figure, float(sec["max_angle_deg"]),
                               face_only=sec.get("search", "image") == "face")
    print(f"{'bin':<8} {'method':<12} {'precision':>9} {'matches':>8}")
    for name in metrics["bins_deg"]:
        for method in ("dff", "dff_at_sift", "sift"):
            m = metrics[method][name]
            print(f"{name:<8} {method:<12} {m['precision']:>9.3f} {m['matches']:>8.1f}")
    print(f"{output}, {figure} ({metrics['seconds']} s)")
    return 0
