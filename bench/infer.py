"""Inference speed of the trained aligners on this machine.

One function per aligner family in :data:`SECTIONS` (``name -> bench(args) -> dict``); each
result becomes the section ``name`` of ``bench/results/infer.json``, which is read, updated
and rewritten so that sections written by other scripts survive.

``cascade``: the trained cascade (``models/cascade``; an untrained one of the configured
architecture when none exists, labelled so) on the synthetic test images with their
benchmark boxes: latency per face at batch 1 (``p50_ms``, ``p99_ms`` with torch's default
threads, ``p50_ms_1thread``, ``p99_ms_1thread`` with one; crop, every stage's PNCC rendering
and network, read-out of landmarks, visibility and pose), throughput at batch 32
(``batch32_faces_per_s``) and the median ms of each part at one thread (``parts_ms_1thread``:
``crop``, ``stage<k>_geometry`` / ``_pncc`` / ``_network`` / ``_update``, ``landmarks``,
``visibility``).  ``onnxruntime`` holds the same figures for the cascade exported with
``facealign export`` (into a temporary directory) and run on ONNX Runtime.

``dff_sdm``: the fitted DFF-SDM (``models/dff_sdm``) the same way, plus the median descriptor
extraction per image (``extract_ms``) and time per SDM iteration (``iteration_ms``), for
PyTorch and (under ``onnxruntime``) ONNX Runtime.

``load_avg_1min`` says how busy the machine was: compare figures as ratios within one run.

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
TARGETS = {"cascade": 4.5, "dff_sdm": 35.0}  # issue 14: p50 ms, cascade on one thread, DFF-SDM on two
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


def _latency(align: Callable, images: list[np.ndarray], boxes: np.ndarray, n: int) -> dict:
    """p50 / p99 in ms of ``align([image], box)`` over ``n`` single faces, after a warm-up."""
    for i in range(3):
        align(images[i : i + 1], boxes[i : i + 1])
    times = []
    for i in range(n):
        start = time.perf_counter()
        align(images[i : i + 1], boxes[i : i + 1])
        times.append((time.perf_counter() - start) * 1000.0)
    return {"p50_ms": round(float(np.percentile(times, 50)), 2),
            "p99_ms": round(float(np.percentile(times, 99)), 2)}


def _throughput(align: Callable, images: list[np.ndarray], boxes: np.ndarray, rounds: int) -> float:
    """Median faces per second of ``align`` on batches of 32."""
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        align(images[:32], boxes[:32])
        rates.append(32 / (time.perf_counter() - start))
    return round(float(np.median(rates)), 1)


def _runtimes(make: Callable[[], object], align_name: str, images: list[np.ndarray], boxes: np.ndarray,
              args: argparse.Namespace) -> dict:
    """Latency with the default threads and with one thread, and batch-32 throughput, for the
    aligner ``make()`` builds (built again under each thread setting: ONNX Runtime reads it then)."""
    import torch

    default_threads = torch.get_num_threads()
    aligner = make()
    align = getattr(aligner, align_name)
    out = {**_latency(align, images, boxes, args.n),
           "batch32_faces_per_s": _throughput(align, images, boxes, args.rounds)}
    torch.set_num_threads(1)
    try:
        one = _latency(getattr(make(), align_name), images, boxes, args.n)
    finally:
        torch.set_num_threads(default_threads)
    return {**out, "p50_ms_1thread": one["p50_ms"], "p99_ms_1thread": one["p99_ms"],
            "threads": default_threads, "device": str(aligner.device)}


def _cascade_parts(aligner, images: list[np.ndarray], boxes: np.ndarray, n: int) -> dict:
    """Median ms per face of each part of the cascade (``CascadeAligner.align_timed``), one thread."""
    import torch

    default_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        parts: dict[str, list[float]] = {}
        for i in range(n):
            _, timed = aligner.align_timed(images[i : i + 1], boxes[i : i + 1])
            for key, value in timed.items():
                parts.setdefault(key, []).append(value * 1000.0)
    finally:
        torch.set_num_threads(default_threads)
    return {key: round(float(np.median(v)), 3) for key, v in parts.items()}


def bench_cascade(args: argparse.Namespace) -> dict:
    """PyTorch and ONNX Runtime latency per face at batch 1 (p50 / p99, ms; default threads and
    one thread), faces per second at batch 32, and the median time of each part (one thread)."""
    import tempfile

    import torch

    from facealign.aligners.onnx_aligners import export_aligner, load_cascade_onnx
    from facealign.models.cascade_bundle import save_bundle

    aligner, source = _cascade_aligner(Path(args.cascade_model))
    images, boxes, data = _test_faces(Path(args.data), max(args.n, 32))
    result = _runtimes(lambda: aligner, "align", images, boxes, args)
    result["parts_ms_1thread"] = _cascade_parts(aligner, images, boxes, args.n)
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(args.cascade_model)
        if not (model_dir / "aligner.json").is_file():
            model_dir = save_bundle(aligner.bundle, Path(tmp) / "cascade")
        onnx_dir = export_aligner(model_dir, Path(tmp) / "cascade_onnx")
        onnx = _runtimes(lambda: load_cascade_onnx(onnx_dir), "align", images, boxes, args)
        torch.set_num_threads(1)
        try:
            onnx["parts_ms_1thread"] = _cascade_parts(load_cascade_onnx(onnx_dir), images, boxes, args.n)
        finally:
            torch.set_num_threads(result["threads"])
    return {
        **result, "onnxruntime": onnx,
        "onnx_speedup_1thread": round(result["p50_ms_1thread"] / onnx["p50_ms_1thread"], 2),
        "target_p50_ms_1thread": TARGETS["cascade"], "faces_timed": args.n, "batch32_rounds": args.rounds,
        "stages": aligner.stages, "input_size": aligner.size, "model": source, "data": data,
        "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
        "machine": platform.machine(), "load_avg_1min": round(os.getloadavg()[0], 2),
    }


def bench_dff_sdm(args: argparse.Namespace) -> dict:
    """DFF-SDM on PyTorch and on ONNX Runtime: latency per face at batch 1 (p50 / p99, ms; default
    threads and one thread) with its descriptor extraction (``extract_ms``) and SDM iteration
    (``iteration_ms``) times beside the DFF paper's GTX 1070 figures (see
    :mod:`facealign.aligners.sdm_timing`), and faces per second at batch 32."""
    import tempfile

    from facealign.aligners.onnx_aligners import export_aligner
    from facealign.aligners.sdm import load_sdm_aligner
    from facealign.aligners.sdm_timing import time_aligner

    model_dir = Path(args.dff_sdm_model)
    if not (model_dir / "aligner.json").is_file():
        return {"skipped": f"no trained DFF-SDM at {model_dir} (run `dvc repro fit_dff_sdm`)"}
    images, boxes, data = _test_faces(Path(args.data), max(args.n, 32))
    n = images[: args.n], boxes[: args.n]
    parts = time_aligner(load_sdm_aligner(model_dir), *n)
    result = {**parts, **_runtimes(lambda: load_sdm_aligner(model_dir), "align", images, boxes, args)}
    with tempfile.TemporaryDirectory() as tmp:
        onnx_dir = export_aligner(model_dir, Path(tmp) / "dff_sdm_onnx")
        onnx_parts = time_aligner(load_sdm_aligner(onnx_dir), *n)
        onnx = {"extract_ms": onnx_parts["extract_ms"], "iteration_ms": onnx_parts["iteration_ms"],
                **_runtimes(lambda: load_sdm_aligner(onnx_dir), "align", images, boxes, args)}
    return {**result, "onnxruntime": onnx, "target_p50_ms": TARGETS["dff_sdm"],
            "onnx_speedup": round(result["p50_ms"] / onnx["p50_ms"], 2), "model": str(model_dir),
            "data": data}


SECTIONS: dict[str, Callable[[argparse.Namespace], dict]] = {"cascade": bench_cascade,
                                                             "dff_sdm": bench_dff_sdm}


def write_section(path: Path, name: str, result: dict) -> None:
    """Read-modify-write ``path``: set section ``name``, keep every other section."""
    sections = json.loads(path.read_text()) if path.is_file() else {}
    sections[name] = result
    atomic.write_json(path, sections)


def print_table(name: str, result: dict) -> None:
    """One row per runtime: p50 / p99 (default threads, one thread), batch-32 throughput."""
    if "skipped" in result:
        print(f"{name}: skipped ({result['skipped']})")
        return
    print(f"\n{name} (ms per face at batch 1; load average {os.getloadavg()[0]:.2f} on "
          f"{os.cpu_count()} cores)")
    print(f"{'runtime':<12} {'p50':>8} {'p99':>8} {'p50 1thr':>9} {'p99 1thr':>9} {'faces/s@32':>11}")
    for runtime, row in (("pytorch", result), ("onnxruntime", result.get("onnxruntime", {}))):
        if row:
            print(f"{runtime:<12} {row['p50_ms']:>8} {row['p99_ms']:>8} {row['p50_ms_1thread']:>9} "
                  f"{row['p99_ms_1thread']:>9} {row['batch32_faces_per_s']:>11}")
    for runtime, row in (("pytorch", result), ("onnxruntime", result.get("onnxruntime", {}))):
        if "parts_ms_1thread" in row:
            print(f"{runtime} parts (median ms, one thread): "
                  + ", ".join(f"{k} {v}" for k, v in row["parts_ms_1thread"].items()))


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
        print_table(name, result)
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
