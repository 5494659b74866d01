"""NME of the *served* predictions on real faces (``../shared/data/real/aflw2000_dev``).

Starts ``facealign serve`` on a free loopback port (or uses ``--url``), posts every image
with its ground-truth landmark box (the benchmark protocol), and scores the answered
landmarks with the project's NME (68 points, normalised by sqrt(w*h) of the ground-truth
box, percent).  Prints it beside the served model's synthetic test NME (its ``nme_mean``
tag) and writes ``bench/results/serve_real_nme.json``.  With ``--detect`` it also posts every
image without a box, so the server's face detector picks it (``facealign.detect``), and reports
that NME beside the true-box one, with the faces missed (answered with no face) and the
detected boxes' IoU with the true ones (``detect`` in the JSON).

    python bench/serve_real_nme.py --model models:/face-alignment@champion --detect
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import httpx
import numpy as np

from serving.process import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]

SHARED = Path(os.environ.get("FACEALIGN_SHARED", REPO.parent / "shared")) / "data"


def _iou(p: list[float], q: np.ndarray) -> float:
    iw, ih = max(0.0, min(p[2], q[2]) - max(p[0], q[0])), max(0.0, min(p[3], q[3]) - max(p[1], q[1]))
    inter = iw * ih
    return float(inter / ((p[2] - p[0]) * (p[3] - p[1]) + (q[2] - q[0]) * (q[3] - q[1]) - inter))


def served_nme(base: str, folder: Path, detect: bool = False) -> dict:
    """Per-image and binned NME (percent) of the server's answers on ``folder``: with the true
    landmark box, or (``detect``) with no box, the server's detector finding the face.  A face whose
    served box overlaps the true one by IoU < 0.3 (the whole-image fallback, another face) is
    listed as missed; its NME is what was served."""
    from facealign.evaluation import load_benchmark
    from faceeval import nme as nme_lib

    bench = load_benchmark(folder)
    preds: list = []
    missed: list[str] = []
    ious: dict[str, float] = {}
    with httpx.Client(base_url=base, timeout=120) as client:
        for record, box in zip(bench.records, bench.boxes, strict=True):
            upload = (record.image_path.name, record.image_path.read_bytes(), "image/jpeg")
            form = {} if detect else {"box": ",".join(f"{v:.3f}" for v in box)}
            r = client.post("/v1/align", files={"image": upload}, data=form)
            r.raise_for_status()
            face = r.json()["faces"][0]
            preds.append(face["landmarks"])
            ious[record.image_path.name] = round(_iou(face["box"], np.asarray(box)), 3)
            if ious[record.image_path.name] < 0.3:
                missed.append(record.image_path.name)
    per_image = nme_lib.nme_per_image(np.asarray(preds, np.float64), bench.landmarks)
    summary = nme_lib.summarize(per_image, bench.yaw_deg).to_dict()
    names = [r.image_path.name for r in bench.records]
    out = {**summary,
           "per_image": {n: round(100 * float(v), 3) for n, v in zip(names, per_image, strict=True)},
           "yaw_deg": {n: round(float(y), 1) for n, y in zip(names, bench.yaw_deg, strict=True)}}
    if detect:
        out.update(missed=missed, box_iou=ious)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/face-alignment@champion")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--data", default=str(SHARED / "real" / "aflw2000_dev"))
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "serve_real_nme.json"))
    parser.add_argument("--detect", action="store_true",
                        help="also post without boxes (the server detects the face) and compare")
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        print(f"{args.data}: real faces not found (set FACEALIGN_SHARED)")
        return 2
    proc, base = (None, args.url) if args.url else start_server(args.model, args.params, cwd=REPO)
    try:
        model = httpx.get(f"{base}/v1/model", timeout=10).json()
        result = served_nme(base, Path(args.data))
        if args.detect:
            result["detect"] = served_nme(base, Path(args.data), detect=True)
    finally:
        if proc is not None:
            stop_server(proc)
    result["model"] = model
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"served {model.get('name') or model.get('spec')} v{model.get('version')} ({model.get('family')}): "
          f"real-face nme_mean {result['nme_mean']} % (bins {result['nme_0_30']} / {result['nme_30_60']} / "
          f"{result['nme_60_90']}, per-image mean {result['nme_sample_mean']} %, "
          f"{result['n_images']} images); "
          f"synthetic test nme_mean {model.get('nme_mean')} % -> {out}")
    if args.detect:
        det = result["detect"]
        print(f"{'image':16s} {'yaw':>6s} {'true box':>9s} {'detected':>9s} {'box IoU':>8s}")
        for name, value in result["per_image"].items():
            print(f"{name:16s} {result['yaw_deg'][name]:6.1f} {value:9.2f} {det['per_image'][name]:9.2f} "
                  f"{det['box_iou'][name]:8.3f}")
        print(f"{'nme_mean':16s} {'':6s} {result['nme_mean']:9.2f} {det['nme_mean']:9.2f}   "
              f"(detector - true box: {det['nme_mean'] - result['nme_mean']:+.2f} points, "
              f"missed faces: {len(det['missed'])})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
