"""``facealign train-cascade``: train the cascade CNN (all stages) and save models/cascade."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "train the cascade CNN on a truncated AlexNet with PNCC (resumes interrupted training)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh", action="store_true",
                        help="discard earlier checkpoints in cascade.work_dir and start again")


def run(args: argparse.Namespace, cfg: dict) -> int:
    import shutil

    from lightning_modules.errors import NonFiniteLossError
    from training.cascade import train
    from training.console import quiet_lightning

    quiet_lightning()
    if args.fresh:
        shutil.rmtree(cfg["cascade"]["work_dir"], ignore_errors=True)
    try:
        metrics = train(cfg)
    except NonFiniteLossError as exc:
        print(f"facealign train-cascade: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, indent=2))
    return 0
