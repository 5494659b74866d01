"""``facealign train-dff``: train the Deep Face Feature U-Net and export ``models/dff``."""

from __future__ import annotations

import argparse

HELP = "train the DFF per-pixel descriptor network (U-Net, multi-head angular softmax)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="extractor directory (default: dff.output)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from training.console import run_training
    from training.dff import train

    if args.output:
        cfg["dff"]["output"] = args.output
    code = run_training(train, cfg, "train-dff")
    if code == 0:
        print(f"DFF extractor written to {cfg['dff']['output']}")
    return code
