"""``facealign fit-sdm``: fit DFF-SDM or SIFT-SDM and save it as an aligner directory."""

from __future__ import annotations

import argparse
import json

HELP = "fit the SDM cascade on DFF or SIFT descriptors (writes models/<descriptor>_sdm)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--descriptor", required=True, choices=("dff", "sift"),
                        help="local descriptor sampled at the landmarks")
    parser.add_argument("--output", help="aligner directory (default: models/<descriptor>_sdm)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from training.sdm import train

    metrics = train(cfg, args.descriptor, args.output)
    print(json.dumps({k: round(v, 4) for k, v in metrics.items()}, indent=2))
    return 0
