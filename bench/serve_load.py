"""Load bench of ``facealign serve``: N concurrent clients for T seconds, a share malformed.

Starts the server on a free loopback port (or uses ``--url``), drives ``POST /v1/align``
with real faces (``../shared/data/real/aflw2000_dev`` with their ground-truth boxes when
present, else generated dot faces) and a share of malformed requests (non-image bytes,
truncated JPEG, bad or outside boxes, missing field, empty body, wrong content type, a
1-pixel image), and prints requests/s, p50 / p99 latency (well-formed requests) and the
answers by status.  Writes ``bench/results/serve_load.json`` (``requests_per_s``,
``p50_ms``, ``p99_ms``, ``errors_5xx``, ``dropped``, ``status_counts``, ...).

    python bench/serve_load.py --model models:/face-alignment@champion --clients 16 --duration 60

The bar: zero 5xx and zero dropped connections at 16 clients x 60 s x 10 % malformed.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import sys
import time
from pathlib import Path

import httpx
import numpy as np

from serving.process import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEALIGN_SHARED", REPO.parent / "shared")) / "data"


def load_faces() -> list[tuple[str, bytes, str | None]]:
    """(name, jpeg bytes, "x0,y0,x1,y1" or None) of the real faces, else generated ones."""
    real = SHARED / "real" / "aflw2000_dev"
    faces = []
    if real.is_dir():
        from facealign.data.readers import read_face_mat

        for mat in sorted(real.glob("*.mat")):
            rec = read_face_mat(mat)
            box = np.r_[rec.landmarks68.min(0), rec.landmarks68.max(0)]
            box_text = ",".join(f"{v:.1f}" for v in box)
            faces.append((rec.image_path.name, rec.image_path.read_bytes(), box_text))
    if not faces:  # no shared data: a plain image, boxes left to detection / the whole image
        from PIL import Image

        buf = io.BytesIO()
        Image.fromarray(np.full((240, 240, 3), 128, np.uint8)).save(buf, format="JPEG")
        faces = [("generated.jpg", buf.getvalue(), "60,60,180,180")]
    return faces


def malformed_requests(jpeg: bytes) -> list[tuple[str, dict]]:
    """(kind, httpx request kwargs) of every malformed request the bench sends."""
    from PIL import Image

    tiny = io.BytesIO()
    Image.new("RGB", (1, 1)).save(tiny, format="PNG")
    img = ("f.jpg", jpeg, "image/jpeg")
    return [
        ("not-an-image", {"files": {"image": ("x.jpg", b"definitely not an image" * 10, "image/jpeg")}}),
        ("truncated-jpeg", {"files": {"image": ("t.jpg", jpeg[: len(jpeg) // 3], "image/jpeg")}}),
        ("bad-box", {"files": {"image": img}, "data": {"box": "1,2,three"}}),
        ("box-outside", {"files": {"image": img}, "data": {"box": "5000,5000,5100,5100"}}),
        ("missing-field", {"files": {"photo": img}}),
        ("empty-body", {"content": b"", "headers": {"content-type": "multipart/form-data; boundary=z"}}),
        ("json-body", {"json": {"image": "nope"}}),
        ("one-pixel", {"files": {"image": ("p.png", tiny.getvalue(), "image/png")}}),
    ]


async def client_loop(base: str, deadline: float, faces: list, bad: list, share: float, seed: int,
                      out: list[tuple[bool, int, float]], dropped: list[str]) -> None:
    """One client: sequential requests until ``deadline``; records (malformed, status, ms)."""
    rng = random.Random(seed)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=httpx.Limits(max_connections=1)) as c:
        while time.monotonic() < deadline:
            malformed = rng.random() < share
            if malformed:
                kwargs = bad[rng.randrange(len(bad))][1]
            else:
                name, data, box = faces[rng.randrange(len(faces))]
                kwargs = {"files": {"image": (name, data, "image/jpeg")}, "data": {"box": box} if box else {}}
            start = time.perf_counter()
            try:
                r = await c.post("/v1/align", **kwargs)
                out.append((malformed, r.status_code, 1000 * (time.perf_counter() - start)))
            except httpx.TransportError as exc:
                dropped.append(f"{type(exc).__name__}: {exc}")


def percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


async def drive(base: str, clients: int, duration: float, share: float) -> dict:
    faces = load_faces()
    bad = malformed_requests(faces[0][1])
    out: list[tuple[bool, int, float]] = []
    dropped: list[str] = []
    start = time.monotonic()
    deadline = start + duration
    await asyncio.gather(*(client_loop(base, deadline, faces, bad, share, i, out, dropped)
                           for i in range(clients)))
    wall = time.monotonic() - start
    good_ms = [ms for m, s, ms in out if not m and s == 200]
    counts: dict[str, int] = {}
    for _, status, _ in out:
        counts[str(status)] = counts.get(str(status), 0) + 1
    return {
        "requests_per_s": round(len(out) / wall, 2), "p50_ms": percentile(good_ms, 50),
        "p99_ms": percentile(good_ms, 99), "p50_ms_all": percentile([ms for *_, ms in out], 50),
        "errors_5xx": sum(1 for _, s, _ in out if s >= 500), "dropped": len(dropped),
        "status_counts": dict(sorted(counts.items())),
        "malformed_not_4xx": sum(1 for m, s, _ in out if m and not 400 <= s < 500),
        "wellformed_not_200": sum(1 for m, s, _ in out if not m and s != 200),
        "n_requests": len(out), "clients": clients, "duration_s": round(wall, 2), "malformed_share": share,
        "images": [f[0] for f in faces], "drop_examples": dropped[:5],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/face-alignment@champion")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--url", help="an already running server (default: start one)")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    parser.add_argument("--malformed", type=float, default=0.10, help="share of malformed requests")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "serve_load.json"))
    args = parser.parse_args()
    proc, base = (None, args.url) if args.url else start_server(args.model, args.params, cwd=REPO)
    try:
        model = httpx.get(f"{base}/v1/model", timeout=10).json()
        result = asyncio.run(drive(base, args.clients, args.duration, args.malformed))
        alive = proc is None or proc.poll() is None
    finally:
        if proc is not None:
            stop_server(proc)
    result = {**result, "server_alive_after": alive, "cpu_count": os.cpu_count(),
              "model": {k: model.get(k) for k in ("spec", "name", "version", "family", "nme_mean")}}
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{result['requests_per_s']} req/s, p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms "
          f"(well-formed), 5xx {result['errors_5xx']}, dropped {result['dropped']}, "
          f"status {result['status_counts']} -> {out}")
    return 0 if result["errors_5xx"] == 0 and result["dropped"] == 0 and alive else 1


if __name__ == "__main__":
    sys.exit(main())
