"""The pipeline's trained aligners as registry versions (registering those not yet there).

``registry.candidates`` in ``params.yaml`` maps a model name to its aligner: a saved
aligner directory (``models/cascade``...) or ``mean-shape`` (the baseline, saved on the fly
from ``paths.face_model``).  A candidate counts only when its metrics file
``<paths.metrics>/<name>.json`` exists (its evaluate stage ran on the current test set);
a directory whose content hash is already registered is not logged again.  A new version
also gets the real-face tags (``real_nme_*``, ``real_data_hash``) when
``<paths.metrics>/real_<name>.json`` holds a real measurement (``facealign evaluate-real``).

A metrics file describes the aligner it measured by its ``aligner_hash`` (the content hash
of the directory, :func:`facealign.manifest.aligner_hash`).  A candidate whose directory's
hash differs from its ``<name>.json``'s (or from a real measurement's ``real_<name>.json``),
or whose file records none, is refused: status ``refused: ...`` naming both, and it is
neither registered nor compared, so a retrained model can never borrow its predecessor's NME.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from facealign.evaluation import HASH_KEY
from facealign.manifest import aligner_hash, is_aligner_dir
from facealign.registry.register import find_version, log_and_register, measured_real


@dataclass(frozen=True)
class Candidate:
    """One pipeline model and its registry version (None when it was skipped)."""

    name: str
    version: str | None
    status: str  # "registered", "already registered" or why it was skipped
    real_data_hash: str | None = None  # the real folders it was measured on (real_<name>.json)


def load_real_metrics(metrics_dir: str | Path, name: str) -> dict | None:
    """``<metrics_dir>/real_<name>.json`` when it holds a real measurement (not skipped, with
    images), else None.  NMEs in percent; ``real_data`` / ``real_data_hash`` name the folders."""
    path = Path(metrics_dir) / f"real_{name}.json"
    if not path.is_file():
        return None
    metrics = json.loads(path.read_text())
    return metrics if measured_real(metrics) else None


def mismatch(metrics: dict, metrics_file: Path, directory: Path, digest: str) -> str | None:
    """Why ``metrics`` (read from ``metrics_file``) does not describe ``directory`` (content
    hash ``digest``), or None when its ``aligner_hash`` is ``digest``."""
    recorded = metrics.get(HASH_KEY)
    if recorded == digest:
        return None
    if not recorded:
        return (f"refused: {metrics_file} records no {HASH_KEY}, so it may describe another model "
                f"than {directory}; re-run its evaluation (`dvc repro`)")
    return (f"refused: {metrics_file} measured aligner {recorded}, but {directory} is now {digest}; "
            f"re-run its evaluation (`dvc repro`)")


def _register(client: Any, cfg: dict, name: str, directory: Path, metrics_file: Path,
              test_hash: str) -> Candidate:
    digest = aligner_hash(directory)
    metrics = json.loads(metrics_file.read_text())
    real = load_real_metrics(metrics_file.parent, name)
    why = mismatch(metrics, metrics_file, directory, digest)
    if why is None and real is not None:
        why = mismatch(real, metrics_file.with_name(f"real_{name}.json"), directory, digest)
    if why is not None:
        return Candidate(name, None, why)
    real_hash = None if real is None else str(real["real_data_hash"])
    existing = find_version(client, cfg["registry"]["name"], digest)
    if existing is not None:
        return Candidate(name, str(existing.version), "already registered", real_hash)
    version = log_and_register(directory, metrics, cfg, test_data_hash=test_hash, real_metrics=real)
    return Candidate(name, version, "registered", real_hash)


def register_candidates(client: Any, cfg: dict, test_hash: str) -> list[Candidate]:
    """Register every configured candidate that has metrics; one :class:`Candidate` each."""
    from facealign.aligners.mean_shape import copy_mean_shape_aligner

    out = []
    metrics_dir = Path(cfg["paths"]["metrics"])
    for name, spec in (cfg["registry"].get("candidates") or {}).items():
        metrics_file = metrics_dir / f"{name}.json"
        if not metrics_file.is_file():
            out.append(Candidate(name, None, f"skipped: {metrics_file} not found (evaluate it first)"))
            continue
        if spec == "mean-shape":
            model_path = Path(cfg["paths"]["face_model"])
            if not model_path.is_file():
                out.append(Candidate(name, None, f"skipped: {model_path} not found"))
                continue
            with tempfile.TemporaryDirectory(prefix="facealign-baseline-") as tmp:
                directory = copy_mean_shape_aligner(model_path, Path(tmp) / name)
                out.append(_register(client, cfg, name, directory, metrics_file, test_hash))
            continue
        directory = Path(spec)
        if not is_aligner_dir(directory):
            out.append(Candidate(name, None, f"skipped: {directory} is not a saved aligner"))
            continue
        out.append(_register(client, cfg, name, directory, metrics_file, test_hash))
    return out
