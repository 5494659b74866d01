"""Synthetic dataset throughput: images rendered and written per second.

Builds the default procedural model, warms up the compiled renderer, then writes
``--count`` training images at ``--size`` px with 1 and with ``--workers`` processes.
Prints a table and writes ``bench/results/synthesize.json`` (``images_per_s`` is the
multi-process rate).

    python bench/synthesize.py [--count 400] [--size 120] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from facealign.data.synthesize import SynthesisConfig, synthesize_split
from facegeom.procedural_face import build_procedural_model

RESULTS = Path(__file__).resolve().parent / "results" / "synthesize.json"


def rate(model_path: Path, cfg: SynthesisConfig, count: int, workers: int, out: Path) -> float:
    """Images per second for one run (process start-up included)."""
    start = time.perf_counter()
    synthesize_split(model_path, cfg, "train", count, out / f"w{workers}", workers, progress=False)
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=400)
    parser.add_argument("--size", type=int, default=120)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cfg = SynthesisConfig(image_size=args.size)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        model_path = out / "face_model.npz"
        build_procedural_model().save(model_path)
        synthesize_split(model_path, cfg, "train", 8, out / "warmup", 1, progress=False)
        single = rate(model_path, cfg, args.count, 1, out)
        multi = rate(model_path, cfg, args.count, args.workers, out)
    figures = {"images_per_s": round(multi, 1), "images_per_s_1_worker": round(single, 1),
               "workers": args.workers, "count": args.count, "image_size": args.size}
    print(f"{'workers':>8} {'images/s':>10}   ({args.count} images at {args.size}px)")
    print(f"{1:>8} {single:>10.1f}")
    print(f"{args.workers:>8} {multi:>10.1f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2))
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
