"""Run ``facealign serve`` as a real process on a free loopback port (test helper)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_params(folder: Path, tracking_uri: str, poll_interval_s: float = 30.0) -> Path:
    """A minimal params.yaml for ``facealign serve`` with the production serve defaults."""
    cfg = {"preset": "default", "presets": {"default": {}},
           "paths": {"face_model": str(folder / "face_model.npz"), "data": str(folder / "data"),
                     "metrics": str(folder / "metrics")},
           "mlflow": {"tracking_uri": tracking_uri, "experiment": "facealign"},
           "registry": {"name": "face-alignment", "alias": "champion"},
           "serve": {"max_body_mb": 20, "max_pixels": 50_000_000, "poll_interval_s": poll_interval_s,
                     "threads_per_request": 1}}
    path = folder / "params.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def start_server(params: Path, model: str, cwd: Path, env: dict | None = None,
                 timeout_s: float = 120.0) -> tuple[subprocess.Popen, str]:
    """Start ``facealign serve`` and wait until ``/healthz`` answers; (process, base URL)."""
    port = free_port()
    log = open(cwd / f"serve-{port}.log", "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "facealign.cli", "serve", "--params", str(params), "--model", model,
         "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
        cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {(cwd / f'serve-{port}.log').read_text()[-2000:]}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError("server did not start in time")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
