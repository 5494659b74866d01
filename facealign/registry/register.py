"""Log a saved aligner directory as an MLflow model and register it as ``face-alignment``.

The logged model carries data only: the aligner directory (weights, morphable model,
normalisation statistics, ``aligner.json``) is its ``data/aligner``, read by the installed
package's code (:mod:`facealign.registry.pyfunc` is its ``loader_module``; ``facealign`` is
among the pinned ``pip_requirements``); it has a signature and an input example.
Requirements are given explicitly, which skips MLflow's slow inference of them.

Each version is tagged with the family, ``nme_mean`` and the three bin NMEs (percent),
the DVC hash of the test set they were measured on, the git commit, the source run and
``aligner_hash`` (content hash of the directory: one version per content, see
:mod:`facealign.registry.versions`).  A trained aligner's version is registered by its
training run (:mod:`facealign.registry.trained`) and gets its measurements when
``facealign promote`` finds it (:func:`ensure_registered`); aligners without a training
run (the mean-shape baseline) are logged into a ``register-<family>`` run.  When
the aligner was measured on real faces (``metrics/real_<model>.json`` with images), the
version also carries ``real_nme_mean``, ``real_nme_0_30``, ``real_nme_30_60``,
``real_nme_60_90`` (percent) and ``real_data_hash`` (the real folders' combined hash).
"""

from __future__ import annotations

import importlib.metadata
import io
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from facealign.manifest import aligner_hash, read_manifest
from facealign.registry.versions import ensure_version, find_version, registration_run

__all__ = ["find_version"]  # re-exported: candidates look versions up by content hash here

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
    """Input: ``image`` (binary), optional ``box`` and ``name`` (string).  Output, one row per
    image: ``image`` (the name) and ``faces``, each with ``box`` [x0, y0, x1, y1] and 68
    ``landmarks`` [x, y] (original-image pixels, y down), 68 ``visible`` flags, ``pose``
    (``yaw``, ``pitch``, ``roll`` in degrees) and ``params`` (the 3DMM vector, absent where
    the family has none)."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Array, ColSpec, Object, Property, Schema

    inputs = Schema([ColSpec("binary", "image"), ColSpec("string", "box", required=False),
                     ColSpec("string", "name", required=False)])
    pose = Object([Property(angle, "double") for angle in ("yaw", "pitch", "roll")])
    face = Object([Property("box", Array("double")), Property("landmarks", Array(Array("double"))),
                   Property("visible", Array("boolean")), Property("pose", pose),
                   Property("params", Array("double"), required=False)])
    outputs = Schema([ColSpec("string", "image"), ColSpec(Array(face), "faces")])
    return ModelSignature(inputs=inputs, outputs=outputs)


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


def measurement_tags(metrics: dict, test_data_hash: str, real_metrics: dict | None = None) -> dict[str, str]:
    """``nme_*`` and ``test_data_hash`` tags, plus the ``real_*`` NMEs and ``real_data_hash``
    when ``real_metrics`` holds a real measurement (NMEs as strings, ``nan`` for an empty bin)."""
    tags = {"test_data_hash": test_data_hash, **nme_tags(metrics)}
    if measured_real(real_metrics):
        tags.update(nme_tags(real_metrics, REAL_PREFIX))
        tags[hash_tag(REAL_PREFIX)] = str(real_metrics["real_data_hash"])
    return tags


def version_tags(family: str, metrics: dict, test_data_hash: str, git_commit: str, run_id: str,
                 digest: str, real_metrics: dict | None = None) -> dict[str, str]:
    """The tags every version carries: family, commit, source run, content hash, measurements."""
    return {"family": family, "git_commit": git_commit, "source_run": run_id, "aligner_hash": digest,
            **measurement_tags(metrics, test_data_hash, real_metrics)}


def run_metrics(metrics: dict, real_metrics: dict | None = None) -> dict[str, float]:
    """The run metrics of a measurement: ``test_<key>`` (the names the training runs log for
    the test set) and ``real_<key>`` for a real-face measurement; finite numbers only."""
    out = {f"test_{k}": float(v) for k, v in metrics.items()
           if not isinstance(v, bool) and _float(v) is not None}
    if measured_real(real_metrics):
        out.update({f"{REAL_PREFIX}{k}": float(v) for k, v in real_metrics.items()
                    if not isinstance(v, bool) and _float(v) is not None})
    return out


def record_measurements(client: Any, name: str, version: str, metrics: dict, test_data_hash: str,
                        real_metrics: dict | None = None) -> None:
    """Give a version registered by its training run (no ``test_data_hash`` yet) the
    measurement tags, and log them into that run (``test_*``, ``real_*``) unless it has them."""
    from mlflow.entities import Metric

    mv = client.get_model_version(name, version)
    for key, value in measurement_tags(metrics, test_data_hash, real_metrics).items():
        client.set_model_version_tag(name, version, key, value)
    if mv.run_id and "test_nme_mean" not in client.get_run(mv.run_id).data.metrics:
        stamp = int(time.time() * 1000)
        client.log_batch(mv.run_id, metrics=[Metric(k, v, stamp, 0) for k, v in
                                             run_metrics(metrics, real_metrics).items()])


def ensure_registered(
    aligner_dir: str | Path, metrics: dict, cfg: dict, run_id: str | None = None,
    test_data_hash: str | None = None, family: str | None = None, real_metrics: dict | None = None,
) -> tuple[str, bool]:
    """The version of ``cfg.registry.name`` holding ``aligner_dir``'s content: the existing one
    (given its measurements when its training run registered it unmeasured), else a new one
    logged and registered now.  Idempotent by content hash, concurrent writers included
    (:mod:`facealign.registry.versions`).

    Args:
        aligner_dir: a saved aligner directory (``aligner.json`` names the family).
        metrics: the metrics contract of this aligner on the test set (NMEs in percent).
        cfg: the resolved configuration (``mlflow`` and ``registry`` sections).
        run_id: the MLflow run to log into (e.g. a sweep's trial run; it may be the active
            run), else a new ``register-<family>`` run (nested when a run is active).
        test_data_hash: DVC hash of the test set ``metrics`` were measured on (default:
            the hash of ``paths.data``/test).
        family: overrides ``aligner.json``'s family.
        real_metrics: the aligner's ``metrics/real_<model>.json`` (real-face NMEs, percent),
            if measured; logged as ``real_*`` metrics and tags.
    Returns:
        (the version number as a string, whether it was registered now).
    """
    import mlflow
    from mlflow import MlflowClient

    from facealign import tracking

    aligner_dir = Path(aligner_dir)
    family = family or read_manifest(aligner_dir)["family"]
    if test_data_hash is None:
        test_data_hash = tracking.data_hash(Path(cfg["paths"]["data"]) / "test")
    digest = aligner_hash(aligner_dir)
    experiment_id = tracking.ensure_experiment(cfg)
    uri, name = tracking.tracking_uri(cfg), cfg["registry"]["name"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)

    def log_model() -> tuple[str, dict[str, str]]:
        with registration_run(client, experiment_id, run_id, family, digest) as run:
            mlflow.log_metrics(run_metrics(metrics, real_metrics))
            mlflow.set_tag("test_data_hash", test_data_hash)
            info = log_aligner_model(aligner_dir)
        commit = tracking.git_commit()
        return info.model_uri, version_tags(family, metrics, test_data_hash, commit, run.info.run_id, digest,
                                            real_metrics)

    version, created = ensure_version(client, uri, name, digest, log_model)
    if not created and "test_data_hash" not in client.get_model_version(name, version).tags:
        record_measurements(client, name, version, metrics, test_data_hash, real_metrics)
    return version, created


def log_and_register(
    aligner_dir: str | Path, metrics: dict, cfg: dict, run_id: str | None = None,
    test_data_hash: str | None = None, family: str | None = None, real_metrics: dict | None = None,
) -> str:
    """:func:`ensure_registered`'s version (a new one, or the one already holding the content)."""
    return ensure_registered(aligner_dir, metrics, cfg, run_id, test_data_hash, family, real_metrics)[0]
