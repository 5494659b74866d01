"""``facealign evaluate``: NME of any aligner on any AFLW2000-3D-layout folder."""

from __future__ import annotations

import argparse
import json

HELP = "evaluate an aligner (mean-shape, a saved aligner directory, a registry URI) on a folder"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="mean-shape | path to a trained aligner | models:/face-alignment@champion")
    parser.add_argument("--data", required=True, help="folder of jpg + .mat in the AFLW2000-3D layout")
    parser.add_argument("--output", required=True, help="metrics JSON to write, e.g. metrics/x.json")
    parser.add_argument("--batch-size", type=int, default=32)


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.evaluation import evaluate, load_face_model
    from facealign.registry.loading import load_aligner

    aligner = load_aligner(args.model, cfg["paths"]["face_model"])
    metrics = evaluate(aligner, args.data, args.output, batch_size=args.batch_size,
                       n_overlays=int(cfg["evaluate"]["overlays"]),
                       face_model=load_face_model(cfg["paths"]["face_model"]))
    print(json.dumps(metrics, indent=2))
    return 0
