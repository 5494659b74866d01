"""``facealign build-model``: build or import the morphable face model."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "build the embedded procedural face model (or import a real one) as .npz"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="output .npz (default: paths.face_model)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.face_model import build_face_model

    out = Path(args.output or cfg["paths"]["face_model"])
    out.parent.mkdir(parents=True, exist_ok=True)
    model = build_face_model(cfg["face_model"])
    model.save(out)
    print(f"{out}: {model.name} model, {model.n_vertices} vertices, "
          f"{len(model.triangles)} triangles, {model.n_id} identity + {model.n_exp} expression")
    return 0
