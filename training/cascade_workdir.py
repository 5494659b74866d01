"""The cascade's resumable work directory (``cascade.work_dir``, outside the DVC output).

Layout::

    fingerprint.json          what the work belongs to (settings, data and face-model hashes)
    stage<k>/last.ckpt        Lightning checkpoint of the stage being trained (every epoch)
    stage<k>.pt               Net_k's weights once stage k has finished
    stage<k>.estimates.npy    (M, P) p_{k+1} in the image frame for every training face
    stage<k>.json             the stage's summary (its presence marks the stage finished)
    mlflow_run_id             the MLflow run the training logs to

An interrupted run resumes the unfinished stage from ``last.ckpt`` and skips finished
stages.  Resumable work is never deleted implicitly: a different fingerprint (other
settings, data or face model) sets the old work aside as ``<work_dir>.superseded-<digest>``
and starts afresh; the set-aside work is restored when its fingerprint comes back, and
deleted only once the new work has finished its first stage.  A ``work_dir`` that holds
files but no ``fingerprint.json`` is not a work directory and is refused, never emptied.
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


FINGERPRINT = "fingerprint.json"
SUPERSEDED = ".superseded-"  # <work_dir><SUPERSEDED><digest>: work of another configuration, set aside


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

    def _fingerprint_of(self, directory: Path) -> dict | None:
        path = directory / FINGERPRINT
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            return None

    def superseded(self) -> list[Path]:
        """Work directories of other fingerprints set aside beside ``root``."""
        return sorted(self.root.parent.glob(f"{self.root.name}{SUPERSEDED}*"))

    def prepare(self) -> bool:
        """Make the directory ready; returns True when earlier work is resumed.

        Raises:
            ValueError: ``root`` holds files but is not a work directory (no fingerprint.json).
        """
        if self._fingerprint_of(self.root) == self.fingerprint:
            return any(self.root.glob("stage*"))
        if self.root.is_dir() and any(self.root.iterdir()) and not (self.root / FINGERPRINT).is_file():
            raise ValueError(f"cascade.work_dir: {self.root} holds files but no {FINGERPRINT}: it is not "
                             "a cascade work directory; choose another or remove it yourself")
        if not self.writer:
            return False
        if any(self.root.glob("stage*")):  # resumable work of another configuration: set it aside
            old = json.dumps(self._fingerprint_of(self.root), sort_keys=True).encode()
            aside = self.root.with_name(f"{self.root.name}{SUPERSEDED}{hashlib.md5(old).hexdigest()[:12]}")
            if aside.exists():  # the same configuration set aside before: keep the later work
                shutil.rmtree(aside)
            self.root.rename(aside)
            print(f"train-cascade: the configuration changed; earlier work kept in {aside} until this "
                  "run finishes its first stage")
        for aside in self.superseded():
            if self._fingerprint_of(aside) == self.fingerprint:  # this configuration's earlier work
                shutil.rmtree(self.root, ignore_errors=True)
                aside.rename(self.root)
                return any(self.root.glob("stage*"))
        shutil.rmtree(self.root, ignore_errors=True)  # at most a fingerprint and a run id: no work
        self.root.mkdir(parents=True)
        (self.root / FINGERPRINT).write_text(json.dumps(self.fingerprint, indent=2, sort_keys=True))
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
        for aside in self.superseded():  # this work has a finished stage now: drop the old work
            shutil.rmtree(aside, ignore_errors=True)

    def load_stage(self, stage: int) -> tuple[dict[str, torch.Tensor], np.ndarray, dict[str, Any]]:
        """Weights, p_{k+1} estimates (M, P) and summary of finished stage ``stage``."""
        state = torch.load(self.root / f"stage{stage}.pt", map_location="cpu", weights_only=True)
        estimates = np.load(self.root / f"stage{stage}.estimates.npy", allow_pickle=False)
        return state, estimates, json.loads((self.root / f"stage{stage}.json").read_text())

    @property
    def run_id(self) -> str | None:
        path = self.root / "mlflow_run_id"
        return path.read_text().strip() if path.is_file() else None

    @run_id.setter
    def run_id(self, value: str) -> None:
        if self.writer:
            (self.root / "mlflow_run_id").write_text(value)
