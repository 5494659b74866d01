"""The cascade's resumable work directory (``cascade.work_dir``, outside the DVC output).

Layout::

    fingerprint.json          what the work belongs to (settings, data and face-model hashes)
    stage<k>/last.ckpt        Lightning checkpoint of the stage being trained (every epoch)
    stage<k>.pt               Net_k's weights once stage k has finished
    stage<k>.estimates.npy    (M, P) p_{k+1} in the image frame for every training face
    stage<k>.json             the stage's summary (its presence marks the stage finished)
    mlflow_run_id             the MLflow run the training logs to

An interrupted run resumes the unfinished stage from ``last.ckpt`` and skips finished
stages.  A different fingerprint (other settings, data or face model) starts afresh.
Only the writer (global rank 0) changes files.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

# settings that change how a run executes, not what it computes: they may differ on resume
RUNTIME_KEYS = frozenset({"num_workers", "torch_threads", "accelerator", "devices", "strategy",
                          "progress_bar", "mlflow", "output", "work_dir", "cache_pncc", "cache_images"})


def file_md5(path: str | Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class WorkDir:
    """Checkpoints and finished stages of one cascade training.

    Args:
        root: the directory.
        fingerprint: JSON-serialisable description of the run (see :data:`RUNTIME_KEYS`).
        writer: whether this process may write (global rank 0).
    """

    def __init__(self, root: str | Path, fingerprint: dict[str, Any], writer: bool = True) -> None:
        self.root, self.writer = Path(root), writer
        self.fingerprint = json.loads(json.dumps(fingerprint, sort_keys=True, default=str))

    def prepare(self) -> bool:
        """Make the directory ready; returns True when earlier work is resumed."""
        path = self.root / "fingerprint.json"
        if path.is_file() and json.loads(path.read_text()) == self.fingerprint:
            return any(self.root.glob("stage*"))
        if self.writer:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root.mkdir(parents=True)
            path.write_text(json.dumps(self.fingerprint, indent=2, sort_keys=True))
        return False

    def checkpoint_dir(self, stage: int) -> Path:
        return self.root / f"stage{stage}"

    def last_checkpoint(self, stage: int) -> Path | None:
        path = self.checkpoint_dir(stage) / "last.ckpt"
        return path if path.is_file() else None

    def stage_done(self, stage: int) -> bool:
        suffixes = (".json", ".pt", ".estimates.npy")
        return all((self.root / f"stage{stage}{suffix}").is_file() for suffix in suffixes)

    def save_stage(self, stage: int, state: dict[str, torch.Tensor], estimates: np.ndarray,
                   summary: dict[str, Any]) -> None:
        """Record finished stage ``stage`` (the summary file last, so it marks completion)."""
        if not self.writer:
            return
        torch.save({k: v.detach().cpu() for k, v in state.items()}, self.root / f"stage{stage}.pt")
        np.save(self.root / f"stage{stage}.estimates.npy", np.asarray(estimates, np.float64))
        (self.root / f"stage{stage}.json").write_text(json.dumps(summary, indent=2))
        shutil.rmtree(self.checkpoint_dir(stage), ignore_errors=True)

    def load_stage(self, stage: int) -> tuple[dict[str, torch.Tensor], np.ndarray, dict[str, Any]]:
        """Weights, p_{k+1} estimates (M, P) and summary of finished stage ``stage``."""
        state = torch.load(self.root / f"stage{stage}.pt", map_location="cpu", weights_only=True)
        estimates = np.load(self.root / f"stage{stage}.estimates.npy")
        return state, estimates, json.loads((self.root / f"stage{stage}.json").read_text())

    @property
    def run_id(self) -> str | None:
        path = self.root / "mlflow_run_id"
        return path.read_text().strip() if path.is_file() else None

    @run_id.setter
    def run_id(self, value: str) -> None:
        if self.writer:
            (self.root / "mlflow_run_id").write_text(value)
