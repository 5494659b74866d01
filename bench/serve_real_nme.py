"""NME of the *served* predictions on real faces (``../shared/data/real/aflw2000_dev``).

Starts ``facealign serve`` on a free loopback port (or uses ``--url``), posts every image
with its ground-truth landmark box (the benchmark protocol), and scores the answered
landmarks with the project's NME (68 points, normalised by sqrt(w*h) of the ground-truth
box, percent).  Prints it beside the served model's synthetic test NME (its ``nme_mean``
tag) and writes ``bench/results/serve_real_nme.json``.

    python bench/serve_real_nme.py --model models:/face-alignment@champion
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


def served_nme(base: str, folder: Path) -> dict:
    """Per-image and binned NME (percent) of the server's answers on ``folder``."""
    from facealign.evaluation import load_benchmark
    from faceeval import nme as nme_lib

    bench = load_benchmark(folder)
    preds = []
    with httpx.Client(base_url=base, timeout=120) as client:
        for record, box in zip(bench.records, bench.boxes, strict=True):
            upload = (record.image_path.name, record.image_path.read_bytes(), "image/jpeg")
            r = client.post("/v1/align", files={"image": upload},
                            data={"box": ",".join(f"{v:.3f}" for v in box)})
            r.raise_for_status()
            preds.append(r.json()["faces"][0]["landmarks"])
    per_image = nme_lib.nme_per_image(np.asarray(preds, np.float64), bench.landmarks)
    summary = nme_lib.summarize(per_image, bench.yaw_deg).to_dict()
    names = [r.image_path.name for r in bench.records]
    return {**summary,
            "per_image": {n: round(100 * float(v), 3) for n, v in zip(names, per_image, strict=True)},
            "yaw_deg": {n: round(float(y), 1) for n, y in zip(names, bench.yaw_deg, strict=True)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/face-alignment@champion")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--data", default=str(SHARED / "real" / "aflw2000_dev"))
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "serve_real_nme.json"))
    args = parser.parse_args()
    if not Path(args.data).is_dir():
        print(f"{args.data}: real faces not found (set FACEALIGN_SHARED)")
        return 2
    proc, base = (None, args.url) if args.url else start_server(args.model, args.params, cwd=REPO)
    try:
        model = httpx.get(f"{base}/v1/model", timeout=10).json()
        result = served_nme(base, Path(args.data))
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
