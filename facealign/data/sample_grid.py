"""A grid of synthetic training samples beside real photos, to judge the renders by eye.

    python -m facealign.data.sample_grid [--output metrics/samples_vs_real.png]
        [--model models/face_model.npz] [--real DIR] [--rows 4] [--cols 6]

The first row holds the real AFLW2000-3D dev photos (read at run time from the shared
data beside the checkout, ``../shared/data/real/aflw2000_dev`` or
``$FACEALIGN_SHARED/data/real/aflw2000_dev``; never copied into git), cropped around
their 68 landmarks at the synthetic face scale; the other rows are synthetic samples at
the ``params.yaml`` settings.  Tiles are ``--tile`` pixels square.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from facealign.data import readers
from facealign.data.synthesize import SynthesisConfig, _load_model, sample_face

REPO_ROOT = Path(__file__).resolve().parents[2]


def default_real_dir() -> Path:
    shared = Path(os.environ.get("FACEALIGN_SHARED", REPO_ROOT.parent / "shared"))
    return shared / "data" / "real" / "aflw2000_dev"


def real_tiles(folder: Path, tile: int, face_scale: float = 0.65) -> list[np.ndarray]:
    """(tile, tile, 3) uint8 RGB crops of each annotated photo, face box = face_scale * tile."""
    tiles = []
    for rec in readers.read_folder(folder) if folder.is_dir() else []:
        image = readers.load_image(rec.image_path)
        lo, hi = rec.landmarks68.min(0), rec.landmarks68.max(0)
        side = float((hi - lo).max()) / face_scale
        centre = (lo + hi) / 2
        s = tile / side
        affine = np.array([[s, 0, tile / 2 - s * centre[0]], [0, s, tile / 2 - s * centre[1]]])
        tiles.append(cv2.warpAffine(image, affine, (tile, tile), flags=cv2.INTER_AREA,
                                    borderMode=cv2.BORDER_REFLECT))
    return tiles


def synthetic_tiles(model_path: Path, cfg: SynthesisConfig, n: int, tile: int) -> list[np.ndarray]:
    model, regions = _load_model(str(model_path))
    out = []
    for i in range(n):
        _, face, _ = sample_face(model, cfg, "train", i, regions)
        out.append(cv2.resize(face.image, (tile, tile), interpolation=cv2.INTER_LINEAR))
    return out


def grid(rows: list[list[np.ndarray]], tile: int, cols: int) -> np.ndarray:
    """Rows of tiles on a white sheet with 4 px gutters, (H, W, 3) uint8 RGB."""
    gap = 4
    sheet = np.full((len(rows) * (tile + gap) + gap, cols * (tile + gap) + gap, 3), 255, np.uint8)
    for r, row in enumerate(rows):
        for c, image in enumerate(row[:cols]):
            y, x = gap + r * (tile + gap), gap + c * (tile + gap)
            sheet[y:y + tile, x:x + tile] = image
    return sheet


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="metrics/samples_vs_real.png")
    parser.add_argument("--model", default="models/face_model.npz")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--real", type=Path, default=None, help="folder of jpg + .mat photos")
    parser.add_argument("--rows", type=int, default=4, help="rows of synthetic samples")
    parser.add_argument("--cols", type=int, default=6)
    parser.add_argument("--tile", type=int, default=160)
    args = parser.parse_args(argv)
    section = {}
    if Path(args.params).is_file():
        import yaml

        section = yaml.safe_load(Path(args.params).read_text()).get("synthesize", {})
    cfg = SynthesisConfig.from_section(section)
    with tempfile.TemporaryDirectory() as tmp:
        model_path = Path(args.model)
        if not model_path.is_file():
            from facegeom.procedural_face import build_procedural_model

            model_path = Path(tmp) / "face_model.npz"
            build_procedural_model().save(model_path)
        fake = synthetic_tiles(model_path, cfg, args.rows * args.cols, args.tile)
    real = real_tiles(args.real or default_real_dir(), args.tile)
    rows = ([real] if real else []) + [fake[r * args.cols:(r + 1) * args.cols] for r in range(args.rows)]
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(grid(rows, args.tile, args.cols), cv2.COLOR_RGB2BGR))
    print(f"{out}: {len(real)} real photos, {len(fake)} synthetic samples")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
