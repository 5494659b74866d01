"""``facealign train-dff``: train the Deep Face Feature U-Net and export ``models/dff``."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "train the DFF per-pixel descriptor network (U-Net, multi-head angular softmax)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="extractor directory (default: dff.output)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from lightning_modules.errors import NonFiniteLossError
    from training.console import quiet_lightning
    from training.dff import train

    quiet_lightning()
    if args.output:
        cfg["dff"]["output"] = args.output
    try:
        metrics = train(cfg)
    except NonFiniteLossError as exc:
        print(f"facealign train-dff: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, indent=2))
    print(f"DFF extractor written to {cfg['dff']['output']}")
    return 0
