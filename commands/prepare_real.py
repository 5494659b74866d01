"""``facealign prepare-real``: lay 300W-LP and AFLW2000-3D out as ``paths.data`` (the ``real`` preset)."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = ("link a 300W-LP tree (paths.w300lp) and an AFLW2000-3D folder (paths.aflw2000) as "
        "<paths.data>/{train,test}, labels sized to the face model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="data folder to write (default: paths.data)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.data.real_layout import prepare_real_data
    from facegeom.morphable_model import MorphableModel

    paths = cfg["paths"]
    for key in ("w300lp", "aflw2000"):
        if not paths.get(key):
            raise ValueError(f"paths.{key} is not set: point it at your copy "
                             f"(e.g. --set paths.{key}=/data/{'300W_LP' if key == 'w300lp' else 'AFLW2000'})")
    model_path = Path(paths["face_model"])
    if not model_path.is_file():
        raise FileNotFoundError(f"{model_path}: face model not found (run `facealign build-model` first)")
    prepare_real_data(paths["w300lp"], paths["aflw2000"], args.output or paths["data"],
                      MorphableModel.load(model_path))
    return 0
