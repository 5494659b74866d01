"""The best trial's model: fetched from the sweep's storage, logged and registered as a candidate.

An aligner (cascade) is evaluated on the test set (``paths.data``/test, the metrics
contract the registry's version tags and ``facealign promote`` compare) and registered as
a new version of ``registry.name`` through :func:`facealign.registry.register.log_and_register`,
logged into the best trial's child run.  The version is tagged ``candidate`` and the sweep;
no alias moves (promotion stays with ``facealign promote``).  A model that is not an
aligner (DFF's extractor) is only logged as artifacts of the best trial's run.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from tuning.families import Family
from tuning.reporting import MODEL_DIR


def fetch_model(checkpoint_path: str, filesystem: Any, destination: str | Path) -> Path:
    """Copy ``<checkpoint>/model`` from the sweep's storage to a local folder (replaced)."""
    import pyarrow.fs

    destination = Path(destination)
    shutil.rmtree(destination, ignore_errors=True)
    destination.mkdir(parents=True)
    pyarrow.fs.copy_files(f"{checkpoint_path}/{MODEL_DIR}", str(destination),
                          source_filesystem=filesystem,
                          destination_filesystem=pyarrow.fs.LocalFileSystem())
    return destination


def register_candidate(model_dir: Path, family: Family, cfg: dict, run_id: str, sweep: str,
                       report_dir: Path) -> dict[str, Any]:
    """Log (and for aligners register) ``model_dir``; returns what ``best.json`` records.

    Args:
        model_dir: the best trial's saved model, local.
        family: its family.
        cfg: the pipeline configuration (``paths``, ``mlflow``, ``registry``, ``evaluate``).
        run_id: the best trial's MLflow child run.
        sweep: the sweep's name (a version tag).
        report_dir: where the test-set metrics, CED and overlays of the model are written.
    """
    if not family.registrable:
        from mlflow.tracking import MlflowClient

        from facealign.tracking import tracking_uri

        MlflowClient(tracking_uri(cfg)).log_artifacts(run_id, str(model_dir), artifact_path="model")
        return {"model_uri": f"runs:/{run_id}/model"}

    from mlflow.tracking import MlflowClient

    from facealign.evaluation import evaluate
    from facealign.registry.loading import load_aligner
    from facealign.registry.register import log_and_register
    from facealign.tracking import tracking_uri

    test_dir = Path(cfg["paths"]["data"]) / "test"
    aligner = load_aligner(str(model_dir), cfg["paths"]["face_model"])
    metrics = evaluate(aligner, test_dir, report_dir / "best_test_metrics.json",
                       n_overlays=int(cfg.get("evaluate", {}).get("overlays", 16)), progress=False)
    version = log_and_register(model_dir, metrics, cfg, run_id=run_id, family=family.name)
    name = cfg["registry"]["name"]
    client = MlflowClient(tracking_uri(cfg))
    client.set_model_version_tag(name, version, "candidate", "true")
    client.set_model_version_tag(name, version, "sweep", sweep)
    return {"registered_model": name, "version": version, "model_uri": f"models:/{name}/{version}",
            "test_metrics": metrics}
