"""Soak bench of ``facealign serve``: bounded concurrent load for minutes, sampling the server's RSS.

Starts a real server process on a free loopback port (``serving.process``), drives
``POST /v1/align`` from ``--clients`` concurrent clients for ``--seconds`` (default 600 s)
with a mix of requests: real faces (``../shared`` AFLW2000-3D dev photos with their true
boxes, else a generated face), a large JPEG (decoded reduced), a 7000 x 7000 PNG header of
a few hundred kB (refused 413 by the decode limit, the case that cost 1.1 GB each), a
PNG whose rows stop short (400), malformed requests, and clients that disconnect
mid-body.  Samples the server's resident memory (``/proc/PID/status`` VmRSS) every
``--sample-s`` seconds and stops by itself.  Prints a table and writes
``bench/results/serve_soak.json``: ``rss_start_mb`` (once ready), ``rss_warm_mb`` (median
of the window after ``--warmup-s``), ``rss_peak_mb``, ``rss_end_mb`` (median of the last
window), ``growth_pct`` (end vs warm), ``rss_after_load_mb`` (2 s after the load stopped),
answers by status and kind, requests/s.  The server's log goes to
``bench/results/serve_soak.log`` (its tracebacks and disconnect lines are counted).

    python bench/serve_soak.py --model models/sift_sdm --seconds 600 --clients 8

The bar: resident memory flat within 10 % (end vs after warm-up), no 5xx, server alive.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import random
import socket
import sys
import time
import zlib
from pathlib import Path

import httpx
import numpy as np
from PIL import Image
from serve_load import load_faces  # bench/ is the script directory, first on sys.path

from serving.process import start_server, stop_server

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("FACEALIGN_SHARED", REPO.parent / "shared")) / "data"
MIX = {"face": 0.70, "large_jpeg": 0.08, "huge_png": 0.06, "short_png": 0.04, "malformed": 0.08,
       "disconnect": 0.04}
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (Linux ``/proc``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = (zlib.crc32(kind + data) & 0xFFFFFFFF).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + kind + data + crc


def huge_png(side: int = 7000) -> bytes:
    """A valid RGB PNG of ``side`` x ``side`` zero pixels: a few hundred kB, ~150 MB decoded."""
    raw = zlib.compress((b"\x00" + bytes(3 * side)) * side, 9)
    ihdr = side.to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def short_png(width: int = 400, height: int = 400) -> bytes:
    """A PNG whose compressed data holds only half the rows its header declares."""
    raw = zlib.compress((b"\x00" + bytes(3 * width)) * (height // 2))
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 2, 0, 0, 0])
    return PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", raw) + _png_chunk(b"IEND", b"")


def large_jpeg(face: tuple[str, bytes, str], scale: int = 14) -> tuple[str, bytes, str]:
    """A face photo upscaled ``scale`` times (450 px -> 6300 px, ~40 MP, JPEG) and its box."""
    img = Image.open(io.BytesIO(face[1])).convert("RGB")
    big = img.resize((img.width * scale, img.height * scale), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    big.save(buf, format="JPEG", quality=80)
    box = ",".join(f"{float(v) * scale:.1f}" for v in face[2].split(","))
    return "large.jpg", buf.getvalue(), box


def disconnect_mid_body(base: str, body: bytes) -> None:
    """Send headers declaring ``body`` and half of it, then close the connection."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        head = (f"POST /v1/align HTTP/1.1\r\nHost: {host}\r\n"
                f"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len(body)}\r\n\r\n")
        s.sendall(head.encode() + body[: len(body) // 2])


def multipart(name: str, data: bytes, box: str | None) -> bytes:
    parts = [b'--b\r\nContent-Disposition: form-data; name="image"; filename="' + name.encode() +
             b'"\r\nContent-Type: application/octet-stream\r\n\r\n' + data + b"\r\n"]
    if box:
        parts.append(b'--b\r\nContent-Disposition: form-data; name="box"\r\n\r\n' + box.encode() + b"\r\n")
    return b"".join(parts) + b"--b--\r\n"


async def client_loop(base: str, deadline: float, payloads: dict, seed: int, out: list,
                      dropped: list) -> None:
    """One client: requests drawn from :data:`MIX` until ``deadline``; records (kind, status, ms)."""
    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=httpx.Limits(max_connections=1)) as c:
        while time.monotonic() < deadline:
            kind = rng.choices(kinds, weights)[0]
            start = time.perf_counter()
            try:
                if kind == "disconnect":
                    await asyncio.to_thread(disconnect_mid_body, base, payloads["disconnect"])
                    out.append((kind, 0, 1000 * (time.perf_counter() - start)))
                    continue
                name, data, box = rng.choice(payloads[kind])
                files = {"image": (name, data, "application/octet-stream")}
                r = await c.post("/v1/align", files=files, data={"box": box} if box else {})
                out.append((kind, r.status_code, 1000 * (time.perf_counter() - start)))
            except (httpx.TransportError, OSError) as exc:
                dropped.append(f"{kind}: {type(exc).__name__}: {exc}")


async def sample(pid: int, deadline: float, every_s: float, t0: float, samples: list) -> None:
    while time.monotonic() < deadline:
        samples.append((round(time.monotonic() - t0, 1), round(rss_mb(pid), 1)))
        await asyncio.sleep(every_s)


async def drive(base: str, pid: int, clients: int, seconds: float, every_s: float, payloads: dict) -> dict:
    out: list = []
    dropped: list = []
    samples: list = []
    t0 = time.monotonic()
    deadline = t0 + seconds
    await asyncio.gather(sample(pid, deadline, every_s, t0, samples),
                         *(client_loop(base, deadline, payloads, i, out, dropped) for i in range(clients)))
    wall = time.monotonic() - t0
    await asyncio.sleep(2.0)
    samples.append((round(time.monotonic() - t0, 1), round(rss_mb(pid), 1)))
    return {"out": out, "dropped": dropped, "samples": samples, "wall_s": wall}


def window_quantile(samples: list, t0: float, t1: float, q: float) -> float:
    """The ``q``-th percentile of the RSS samples (MiB) taken in [t0, t1] seconds (the
    nearest sample if none): the median says where memory sits, the 10th percentile what it
    returns to between large requests."""
    inside = [mb for t, mb in samples if t0 <= t <= t1]
    if not inside:
        inside = [min(samples, key=lambda s: abs(s[0] - t0))[1]]
    return round(float(np.percentile(inside, q)), 1)


def window_median(samples: list, t0: float, t1: float) -> float:
    return window_quantile(samples, t0, t1, 50)


def summarise(run: dict, warmup_s: float, rss_ready: float) -> dict:
    """RSS figures: ``rss_warm_mb`` is the median over the window after warm-up and
    ``rss_end_mb`` over the last window of the load (each 10 % of the run, >= 10 s), so one
    large image in flight at the sampling instant does not decide; ``rss_peak_mb`` is the
    highest sample."""
    samples = run["samples"]
    window = max(10.0, 0.1 * run["wall_s"])
    warm = window_median(samples, warmup_s, warmup_s + window)
    end = window_median(samples, run["wall_s"] - window, run["wall_s"])
    by_kind: dict[str, dict[str, int]] = {}
    for kind, status, _ in run["out"]:
        counts = by_kind.setdefault(kind, {})
        counts[str(status)] = counts.get(str(status), 0) + 1
    face_ms = [ms for kind, status, ms in run["out"] if kind == "face" and status == 200]
    return {
        "rss_start_mb": rss_ready, "rss_warm_mb": warm, "rss_peak_mb": max(mb for _, mb in samples),
        "rss_end_mb": end, "growth_pct": round(100 * (end - warm) / warm, 2),
        "rss_warm_p10_mb": window_quantile(samples, warmup_s, warmup_s + window, 10),
        "rss_end_p10_mb": window_quantile(samples, run["wall_s"] - window, run["wall_s"], 10),
        "flat_within_10pct": abs(end - warm) <= 0.10 * warm, "warmup_s": warmup_s, "window_s": window,
        "rss_after_load_mb": samples[-1][1],
        "duration_s": round(run["wall_s"], 1), "n_requests": len(run["out"]),
        "requests_per_s": round(len(run["out"]) / run["wall_s"], 2),
        "face_p50_ms": round(float(np.percentile(face_ms, 50)), 1) if face_ms else None,
        "errors_5xx": sum(1 for _, s, _ in run["out"] if s >= 500 and s != 503),
        "busy_503": sum(1 for _, s, _ in run["out"] if s == 503),
        "dropped": len(run["dropped"]), "drop_examples": run["dropped"][:5],
        "status_by_kind": dict(sorted(by_kind.items())), "mix": MIX,
        "rss_samples": samples[:: max(1, len(samples) // 120)],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="models:/face-alignment@champion",
                        help="registry URI or aligner directory (default: %(default)s)")
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--seconds", type=float, default=600.0, help="load duration (default: %(default)s)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients (default: %(default)s)")
    parser.add_argument("--warmup-s", type=float, help="RSS reference point (default: 10 %% of --seconds)")
    parser.add_argument("--sample-s", type=float, default=1.0, help="RSS sampling period")
    parser.add_argument("--output", default=str(REPO / "bench" / "results" / "serve_soak.json"))
    args = parser.parse_args()
    warmup_s = args.warmup_s if args.warmup_s is not None else 0.1 * args.seconds
    faces = load_faces()
    name, jpeg, _ = faces[0]
    payloads = {"face": faces, "large_jpeg": [large_jpeg(faces[0])],
                "huge_png": [("huge.png", huge_png(), None)], "short_png": [("short.png", short_png(), None)],
                "malformed": [("x.jpg", b"not an image" * 20, None), ("t.jpg", jpeg[:3000], None),
                              (name, jpeg, "1_0,2,3,4"), (name, jpeg, "9e9,9e9,1e10,1e10")],
                "disconnect": multipart(*faces[0])}
    log_path = REPO / "bench" / "results" / "serve_soak.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    proc, base = start_server(args.model, args.params, cwd=REPO, log_path=log_path, log_level="info")
    try:
        rss_ready = round(rss_mb(proc.pid), 1)
        model = httpx.get(f"{base}/v1/model", timeout=10).json()
        run = asyncio.run(drive(base, proc.pid, args.clients, args.seconds, args.sample_s, payloads))
        alive = proc.poll() is None
    finally:
        stop_server(proc)
    result = {**summarise(run, warmup_s, rss_ready), "server_alive_after": alive, "clients": args.clients,
              "cpu_count": os.cpu_count(), "load_avg_1m_end": round(os.getloadavg()[0], 2),
              "model": {k: model.get(k) for k in ("spec", "version", "family")}}
    log_text = log_path.read_text()
    result["log_tracebacks"] = log_text.count("Traceback")
    result["log_disconnect_lines"] = sum("client disconnected" in line for line in log_text.splitlines())
    out = Path(args.output)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'rss MB':>10} {'start':>8} {'warm':>8} {'peak':>8} {'end':>8} {'growth %':>9}")
    print(f"{'':>10} {result['rss_start_mb']:8.1f} {result['rss_warm_mb']:8.1f} {result['rss_peak_mb']:8.1f} "
          f"{result['rss_end_mb']:8.1f} {result['growth_pct']:9.2f}")
    print(f"{result['n_requests']} requests in {result['duration_s']} s ({result['requests_per_s']} req/s, "
          f"{args.clients} clients), 5xx {result['errors_5xx']}, 503 busy {result['busy_503']}, "
          f"dropped {result['dropped']}, tracebacks in log {result['log_tracebacks']} -> {out}")
    for kind, counts in result["status_by_kind"].items():
        print(f"  {kind:>11}: {counts}")
    ok = result["flat_within_10pct"] and result["errors_5xx"] == 0 and alive
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
