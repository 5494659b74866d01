"""Inference speed of the trained aligners on this machine.

One function per aligner family in :data:`SECTIONS` (``name -> bench(args) -> dict``); each
result becomes the section ``name`` of ``bench/results/infer.json``, which is read, updated
and rewritten so that sections written by other scripts survive.

``cascade``: the trained cascade (``models/cascade``; an untrained one of the configured
architecture when none exists, labelled so) on the synthetic test images with their
benchmark boxes: latency per face at batch 1 (``p50_ms``, ``p99_ms``; crop, every stage's
PNCC rendering and network, read-out of landmarks, visibility and pose) and throughput at
batch 32 (``batch32_faces_per_s``).

``dff_sdm``: the fitted DFF-SDM (``models/dff_sdm``) the same way, plus the median descriptor
extraction per image (``extract_ms``) and time per SDM iteration (``iteration_ms``).

Usage: ``python bench/infer.py [cascade ...] [--n 200] [--threads 1]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from faceio import atomic

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results" / "infer.json"


def _test_faces(data: Path, n: int) -> tuple[list[np.ndarray], np.ndarray, str]:
    """``n`` test images (RGB uint8) and their landmark boxes (n, 4); synthetic noise if no data."""
    if data.is_dir() and any(data.glob("*.mat")):
        from facealign.data import readers
        from facealign.evaluation import load_benchmark

        bench = load_benchmark(data)
        idx = np.arange(n) % len(bench.records)
        return [readers.load_image(bench.records[i].image_path) for i in idx], bench.boxes[idx], str(data)
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (120, 120, 3), dtype=np.uint8) for _ in range(n)]
    return images, np.tile([25.0, 30.0, 95.0, 100.0], (n, 1)), "random 120x120 images (no test data)"


def _cascade_aligner(model_dir: Path):
    """The trained cascade, or an untrained one of the configured architecture."""
    from facealign.aligners.cascade import CascadeAligner, load_cascade_aligner

    if (model_dir / "aligner.json").is_file():
        return load_cascade_aligner(model_dir), str(model_dir)
    from facealign.config import load_params
    from facealign.face_model import build_face_model
    from facealign.models.cascade_bundle import CascadeBundle
    from facealign.models.cascade_net import CascadeNet, NetConfig
    from facealign.models.param_stats import ZScore
    from facegeom.morphable_model import MorphableModel
    from facegeom.parameters import n_params

    cfg = load_params(REPO / "params.yaml")
    path = REPO / cfg["paths"]["face_model"]
    model = MorphableModel.load(path) if path.is_file() else build_face_model(cfg["face_model"])
    c = cfg["cascade"]
    p = n_params(model)
    mean = np.zeros(p, np.float32)
    size = c["input_size"]
    mean[[0, 4, 5]] = size * 0.7 / np.ptp(model.mean[:, 0]), size / 2, size / 2
    stats = ZScore(mean, np.ones(p, np.float32))
    nets = [CascadeNet(NetConfig.from_section(c["net"]), c["input_size"], p) for _ in range(c["stages"])]
    bundle = CascadeBundle(model, c["net"], c["input_size"], c["crop_scale"], c["crop_shift"], stats,
                           [ZScore(np.zeros(p, np.float32), np.full(p, 1e-3, np.float32))] * c["stages"],
                           [net.state_dict() for net in nets])
    return CascadeAligner(bundle), "untrained cascade of the configured architecture (no models/cascade)"


def bench_cascade(args: argparse.Namespace) -> dict:
    """Latency per face at batch 1 (p50 / p99, ms) and faces per second at batch 32."""
    import torch

    aligner, source = _cascade_aligner(Path(args.cascade_model))
    images, boxes, data = _test_faces(Path(args.data), max(args.n, 32))
    aligner.align(images[:2], boxes[:2])  # warm-up: numba kernels, torch allocations
    latencies = []
    for i in range(args.n):
        start = time.perf_counter()
        aligner.align([images[i]], boxes[i : i + 1])
        latencies.append((time.perf_counter() - start) * 1000.0)
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        aligner.align(images[:32], boxes[:32])
        rates.append(32 / (time.perf_counter() - start))
    return {
        "p50_ms": round(float(np.percentile(latencies, 50)), 2),
        "p99_ms": round(float(np.percentile(latencies, 99)), 2),
        "batch32_faces_per_s": round(float(np.median(rates)), 1),
        "faces_timed": args.n, "batch32_rounds": args.rounds, "stages": aligner.stages,
        "input_size": aligner.size, "model": source, "data": data, "device": str(aligner.device),
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
    }


def bench_dff_sdm(args: argparse.Namespace) -> dict:
    """DFF-SDM: latency per face at batch 1 (p50 / p99, ms) with its descriptor extraction
    (``extract_ms``) and SDM iteration (``iteration_ms``) times beside the DFF paper's GTX 1070
    figures (see :mod:`facealign.aligners.sdm_timing`), and faces per second at batch 32."""
    from facealign.aligners.sdm import load_sdm_aligner
    from facealign.aligners.sdm_timing import time_aligner

    model_dir = Path(args.dff_sdm_model)
    if not (model_dir / "aligner.json").is_file():
        return {"skipped": f"no trained DFF-SDM at {model_dir} (run `dvc repro fit_dff_sdm`)"}
    aligner = load_sdm_aligner(model_dir)
    images, boxes, data = _test_faces(Path(args.data), max(args.n, 32))
    result = time_aligner(aligner, images[: args.n], boxes[: args.n])
    rates = []
    for _ in range(args.rounds):
        start = time.perf_counter()
        aligner.align(images[:32], boxes[:32])
        rates.append(32 / (time.perf_counter() - start))
    return {**result, "batch32_faces_per_s": round(float(np.median(rates)), 1), "model": str(model_dir),
            "data": data}


SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {"cascade": bench_cascade,
                                                             "dff_sdm": bench_dff_sdm}


def write_section(path: Path, name: str, result: dict) -> None:
    """Read-modify-write ``path``: set section ``name``, keep every other section."""
    sections = json.loads(path.read_text()) if path.is_file() else {}
    sections[name] = result
    atomic.write_json(path, sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=list(SECTIONS), help=f"of {list(SECTIONS)}")
    parser.add_argument("--n", type=int, default=200, help="faces timed one at a time")
    parser.add_argument("--rounds", type=int, default=5, help="timed batches of 32")
    parser.add_argument("--data", default=str(REPO / "data" / "synthetic" / "test"))
    parser.add_argument("--cascade-model", default=str(REPO / "models" / "cascade"))
    parser.add_argument("--dff-sdm-model", default=str(REPO / "models" / "dff_sdm"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args(argv)
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    for name in args.sections:
        if name not in SECTIONS:
            parser.error(f"unknown section {name!r} (have: {', '.join(SECTIONS)})")
        result = SECTIONS[name](args)
        write_section(Path(args.output), name, result)
        print(f"{name}: p50 {result.get('p50_ms')} ms, p99 {result.get('p99_ms')} ms per face (batch 1), "
              f"{result.get('batch32_faces_per_s')} faces/s at batch 32")
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
