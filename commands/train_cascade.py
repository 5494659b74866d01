"""``facealign train-cascade``: train the cascade CNN (all stages) and save models/cascade."""

from __future__ import annotations

import argparse

HELP = "train the cascade CNN on a truncated AlexNet with PNCC (resumes interrupted training)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fresh", action="store_true",
                        help="discard earlier checkpoints in cascade.work_dir and start again")


def run(args: argparse.Namespace, cfg: dict) -> int:
    import shutil

    from training.cascade import train
    from training.console import EpochProgress, run_training

    if args.fresh:
        shutil.rmtree(cfg["cascade"]["work_dir"], ignore_errors=True)
    # a line per epoch (as train-dff's progress bar shows), unless Lightning's own bar is on
    progress = [] if cfg["cascade"].get("progress_bar") else [EpochProgress("train-cascade")]
    return run_training(train, cfg, "train-cascade", callbacks=progress)
