"""Test helpers around ``serving.process``: a minimal params.yaml and a logged server process."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import yaml

from serving import process
from serving.process import stop_server  # noqa: F401 - re-exported for the tests


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
    """Start ``facealign serve`` logging to a fresh ``cwd/serve-*.log``; (process, base URL)."""
    handle, log_path = tempfile.mkstemp(dir=cwd, prefix="serve-", suffix=".log")
    os.close(handle)
    return process.start_server(model, params, cwd, log_path=log_path, env=env, timeout_s=timeout_s)
