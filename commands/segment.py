"""``facealign segment``: random centroidal Voronoi segmentations of the mean face mesh."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "build S random CVT segmentations (P patches each) of the mean face mesh for DFF training"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--output", help="output .npz (default: segment.output)")


def run(args: argparse.Namespace, cfg: dict) -> int:
    import numpy as np

    from facegeom.mesh_segmentation import random_segmentations
    from facegeom.morphable_model import MorphableModel
    from training.dff_settings import SegmentSettings

    sec = SegmentSettings.from_section(cfg["segment"])
    out = Path(args.output or sec.output)
    model = MorphableModel.load(cfg["paths"]["face_model"])
    start = time.perf_counter()
    segs = random_segmentations(
        model.mean, model.triangles, n_segmentations=sec.n_segmentations, n_patches=sec.n_patches,
        iterations=sec.lloyd_iterations, metric=sec.metric, seed=sec.seed,
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    segs.save(out)
    sizes = np.stack([np.bincount(row, minlength=segs.n_patches) for row in segs.labels])
    print(f"{out}: {segs.n_segmentations} segmentations x {segs.n_patches} patches of "
          f"{segs.n_triangles} triangles (patch size {sizes.min()}..{sizes.max()} triangles, "
          f"{time.perf_counter() - start:.1f} s)")
    return 0
