"""Run ``facealign serve`` as a child process on a free loopback port (benches and tests)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, params: str | Path, cwd: str | Path, log_path: str | Path | None = None,
                 env: dict | None = None, timeout_s: float = 120.0,
                 log_level: str = "warning") -> tuple[subprocess.Popen, str]:
    """Start ``facealign serve --model MODEL`` and wait for ``/healthz``.

    Args:
        model: registry URI (``models:/face-alignment@champion``) or aligner directory.
        params: the ``params.yaml`` the server reads (its ``serve`` and ``mlflow`` sections).
        cwd: working directory of the server (relative paths in ``params`` resolve there).
        log_path: file for the server's output (default: inherit this process's).
        env: environment of the server (default: this process's).
        timeout_s: how long to wait for readiness.
        log_level: the server's ``--log-level`` (``info`` shows disconnects and startup).
    Returns:
        (the process, its base URL ``http://127.0.0.1:PORT``).
    Raises:
        RuntimeError: the server exited or did not become ready; the log tail is in the message.
    """
    port = free_port()
    log = open(log_path, "w") if log_path else None  # noqa: SIM115 - the child keeps its own copy
    proc = subprocess.Popen(
        [sys.executable, "-m", "commands.cli", "serve", "--params", str(params), "--model", model,
         "--host", "127.0.0.1", "--port", str(port), "--log-level", log_level],
        cwd=cwd, stdout=log, stderr=subprocess.STDOUT if log else None, env=env)
    if log:
        log.close()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = Path(log_path).read_text()[-2000:] if log_path else ""
            raise RuntimeError(f"the server exited with code {proc.returncode}: {tail}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return proc, base
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not become ready in {timeout_s:.0f} s")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server (SIGTERM, then SIGKILL after 15 s)."""
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
