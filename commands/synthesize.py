"""``facealign synthesize``: render the synthetic large-pose dataset."""

from __future__ import annotations

import argparse
import time

HELP = "render the synthetic large-pose face dataset (train and test splits)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=["default", "dff"], default="default",
                        help="default: data/synthetic train+test; dff: DFF training views "
                             "(dff.data section) in data/synthetic_dff/train")
    parser.add_argument("--workers", type=int, help="processes (default: synthesize.workers)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.data.synthesize import SynthesisConfig, synthesize_split

    section = dict(cfg["synthesize"])
    if args.profile == "dff":
        section.update(cfg["dff"]["data"])
        out_dir, counts = cfg["paths"]["dff_data"], {"train": int(section["n_train"])}
    else:
        out_dir = cfg["paths"]["data"]
        counts = {"train": int(section["n_train"]), "test": int(section["n_test"])}
    synth_cfg = SynthesisConfig.from_section(section)
    workers = args.workers or int(cfg["synthesize"]["workers"])
    for split, count in counts.items():
        start = time.perf_counter()
        folder = synthesize_split(cfg["paths"]["face_model"], synth_cfg, split, count, out_dir, workers)
        rate = count / max(time.perf_counter() - start, 1e-9)
        print(f"{folder}: {count} images at {synth_cfg.image_size}px ({rate:.0f} images/s)")
    return 0
