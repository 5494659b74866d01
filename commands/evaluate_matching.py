"""``facealign evaluate-matching``: DFF vs SIFT matching across view-angle differences.

Writes ``metrics/matching.json`` (:func:`facealign.matching.evaluate_matching`): per yaw-gap
bin and method, precision on points visible in both views, what became of the points hidden
in view B (``hidden_matched``: false matches, ``hidden_rejected``, ``hidden_rejection_rate``),
DFF's dense matching of Fig. 9 (``dff_dense``: precision and coverage at 12 degrees) and
``dff_rejects_hidden_more_than_sift`` per bin; the figure goes beside it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("match two rendered views of one face with DFF and SIFT; precision, hidden-point rejection "
        "and dense coverage per yaw gap")


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
    from faceio.atomic import write_json

    sec = cfg["matching"]
    output = Path(args.output or Path(cfg["paths"]["metrics"]) / "matching.json")
    model = MorphableModel.load(cfg["paths"]["face_model"])
    extractor = load_dff_extractor(args.model or cfg["dff"]["output"])
    start = time.perf_counter()
    metrics, examples = evaluate_matching(model, extractor.describe, extractor.image_size, sec)
    metrics["seconds"] = round(time.perf_counter() - start, 1)
    write_json(output, metrics)
    figure = output.with_name(f"{output.stem}_pair.png")
    save_correspondence_figure(examples, model, figure, float(sec["max_angle_deg"]),
                               face_only=sec.get("search", "image") == "face")
    print(f"{'bin':<8} {'method':<12} {'precision':>9} {'matches':>8} {'hidden':>7} {'rejected':>9}")
    for name in metrics["bins_deg"]:
        for method in ("dff", "dff_at_sift", "sift"):
            m = metrics[method][name]
            print(f"{name:<8} {method:<12} {m['precision']:>9.3f} {m['matches']:>8.1f} {m['hidden']:>7.1f} "
                  f"{m['hidden_rejection_rate']:>9.3f}")
        d = metrics["dff_dense"][name]
        print(f"{name:<8} {'dff_dense':<12} {d['precision']:>9.3f} coverage {d['coverage']:.3f} "
              f"at {d['threshold_deg']:g} deg")
    print(f"{output}, {figure} ({metrics['seconds']} s)")
    return 0
