"""Log a saved aligner directory as an MLflow model and register it as ``face-alignment``.

The logged model carries data only: the aligner directory (weights, morphable model,
normalisation statistics, ``aligner.json``) is its ``data/aligner``, read by the installed
package's code (:mod:`facealign.registry.pyfunc` is its ``loader_module``; ``facealign`` is
among the pinned ``pip_requirements``); it has a signature and an input example.
Requirements are given explicitly, which skips MLflow's slow inference of them.

Each version is tagged with the family, ``nme_mean`` and the three bin NMEs (percent),
the DVC hash of the test set they were measured on, the git commit, the source run and
``aligner_hash`` (content hash of the directory, so a directory is registered once).  When
the aligner was measured on real faces (``metrics/real_<model>.json`` with images), the
version also carries ``real_nme_mean``, ``real_nme_0_30``, ``real_nme_30_60``,
``real_nme_60_90`` (percent) and ``real_data_hash`` (the real folders' combined hash).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import io
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from facealign.manifest import aligner_hash, read_manifest

REQUIREMENTS = ("facealign", "mlflow", "numpy", "scipy", "pandas", "torch", "opencv-python-headless",
                "pillow", "pyyaml", "numba", "tqdm")
NME_KEYS = ("nme_mean", "nme_0_30", "nme_30_60", "nme_60_90")
REAL_PREFIX = "real_"  # tag / metric prefix of the real-face figures


def hash_tag(prefix: str = "") -> str:
    """The tag naming the data a version's ``<prefix>nme_*`` tags were measured on:
    ``test_data_hash`` (synthetic, ``prefix=""``) or ``real_data_hash`` (``"real_"``)."""
    return f"{prefix}data_hash" if prefix else "test_data_hash"


def measured_real(real_metrics: dict | None) -> bool:
    """Whether ``real_metrics`` (a ``metrics/real_<model>.json``) holds a real measurement:
    not skipped, at least one image, and the hash of the folders it used."""
    if not real_metrics or "skipped" in real_metrics:
        return False
    return int(real_metrics.get("n_images") or 0) > 0 and bool(real_metrics.get("real_data_hash"))


def pip_requirements(names: tuple[str, ...] = REQUIREMENTS) -> list[str]:
    """``name==version`` of the installed packages (local labels such as ``+cpu`` dropped)."""
    out = []
    for name in names:
        try:
            out.append(f"{name}=={importlib.metadata.version(name).split('+')[0]}")
        except importlib.metadata.PackageNotFoundError:
            out.append(name)
    return out


def example_input() -> Any:
    """A one-row input DataFrame: a small encoded jpg of a grey gradient and a box."""
    import pandas as pd
    from PIL import Image

    ramp = np.linspace(40, 200, 64, dtype=np.uint8)
    img = np.stack([np.add.outer(ramp, ramp) // 2] * 3, axis=2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="JPEG", quality=85)
    return pd.DataFrame({"image": [buf.getvalue()], "box": ["8,8,56,56"], "name": ["example.jpg"]})


def signature() -> Any:
    """Input: ``image`` (binary), optional ``box`` and ``name`` (string); output: JSON rows."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec("binary", "image"), ColSpec("string", "box", required=False),
                     ColSpec("string", "name", required=False)])
    return ModelSignature(inputs=inputs)


def log_aligner_model(aligner_dir: str | Path, name: str = "model") -> Any:
    """Log ``aligner_dir`` as a pyfunc model into the active run; returns MLflow's ModelInfo."""
    import mlflow.pyfunc

    from facealign.registry.pyfunc import DATA_NAME, LOADER_MODULE

    with tempfile.TemporaryDirectory(prefix="facealign-model-") as tmp:
        staged = Path(tmp) / DATA_NAME  # the model's data is always data/aligner/
        shutil.copytree(aligner_dir, staged, ignore=shutil.ignore_patterns("__pycache__"))
        return mlflow.pyfunc.log_model(
            name=name, loader_module=LOADER_MODULE, data_path=str(staged),
            pip_requirements=pip_requirements(), signature=signature(), input_example=example_input(),
        )


def _float(value: Any) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError):
        return None
    return f if np.isfinite(f) else None


def nme_tags(metrics: dict, prefix: str = "") -> dict[str, str]:
    """``<prefix>nme_*`` tags from a metrics dict (percent as strings, ``nan`` for an empty bin)."""
    tags = {}
    for key in NME_KEYS:
        value = _float(metrics.get(key))
        tags[f"{prefix}{key}"] = "nan" if value is None else f"{value:.6g}"
    return tags


def version_tags(family: str, metrics: dict, test_data_hash: str, git_commit: str, run_id: str,
                 digest: str, real_metrics: dict | None = None) -> dict[str, str]:
    """The tags every version carries (NMEs as strings, ``nan`` where a bin was empty), plus
    the ``real_*`` NMEs and ``real_data_hash`` when ``real_metrics`` holds a real measurement."""
    tags = {"family": family, "test_data_hash": test_data_hash, "git_commit": git_commit,
            "source_run": run_id, "aligner_hash": digest, **nme_tags(metrics)}
    if measured_real(real_metrics):
        tags.update(nme_tags(real_metrics, REAL_PREFIX))
        tags[hash_tag(REAL_PREFIX)] = str(real_metrics["real_data_hash"])
    return tags


def find_version(client: Any, name: str, digest: str) -> Any | None:
    """The newest version of ``name`` whose ``aligner_hash`` tag is ``digest``, if any."""
    found = client.search_model_versions(f"name = '{name}' and tags.aligner_hash = '{digest}'")
    return max(found, key=lambda v: int(v.version), default=None)


def log_and_register(
    aligner_dir: str | Path, metrics: dict, cfg: dict, run_id: str | None = None,
    test_data_hash: str | None = None, family: str | None = None, real_metrics: dict | None = None,
) -> str:
    """Log ``aligner_dir`` as a model and register a new version of ``cfg.registry.name``.

    Args:
        aligner_dir: a saved aligner directory (``aligner.json`` names the family).
        metrics: the metrics contract of this aligner on the test set (NMEs in percent).
        cfg: the resolved configuration (``mlflow`` and ``registry`` sections).
        run_id: the MLflow run to log into (the family's training run; it may be the active
            run), else a new run (nested when a run is active).
        test_data_hash: DVC hash of the test set ``metrics`` were measured on (default:
            the hash of ``paths.data``/test).
        family: overrides ``aligner.json``'s family.
        real_metrics: the aligner's ``metrics/real_<model>.json`` (real-face NMEs, percent),
            if measured; logged as ``real_*`` metrics and tags.
    Returns:
        The new version number, as a string.
    """
    import mlflow

    from facealign import tracking

    aligner_dir = Path(aligner_dir)
    family = family or read_manifest(aligner_dir)["family"]
    if test_data_hash is None:
        test_data_hash = tracking.data_hash(Path(cfg["paths"]["data"]) / "test")
    digest = aligner_hash(aligner_dir)
    commit = tracking.git_commit()
    experiment_id = tracking.ensure_experiment(cfg)
    run_args = {"run_id": run_id} if run_id else {
        "experiment_id": experiment_id, "run_name": f"register-{family}",
        "tags": {"family": family, "git_commit": commit, "aligner_hash": digest}}
    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        context: Any = contextlib.nullcontext(active)  # the caller's run is already open
    else:
        context = mlflow.start_run(**run_args, nested=active is not None)
    with context as run:
        numeric = {k: float(v) for k, v in metrics.items() if _float(v) is not None}
        if measured_real(real_metrics):
            numeric.update({f"{REAL_PREFIX}{k}": float(v) for k, v in real_metrics.items()
                            if not isinstance(v, bool) and _float(v) is not None})
        mlflow.log_metrics(numeric)
        mlflow.set_tag("test_data_hash", test_data_hash)
        info = log_aligner_model(aligner_dir)
        tags = version_tags(family, metrics, test_data_hash, commit, run.info.run_id, digest,
                            real_metrics)
    version = mlflow.register_model(info.model_uri, cfg["registry"]["name"], tags=tags)
    return str(version.version)
