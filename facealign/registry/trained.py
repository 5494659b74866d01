"""The registry version of a freshly trained aligner, registered from its own training run.

The training of each registrable family (cascade, DFF-SDM, SIFT-SDM) ends by logging its
aligner directory as the run's model and registering it as a version of
``registry.name``, so the run page lists the version and the version page links the run.
No NME is known yet: the evaluate stages measure it later, and ``facealign promote`` finds
the version by its content hash and adds the measurements
(:func:`facealign.registry.register.record_measurements`).  Smoke runs (preset
``fast_dev_run``) register into their own model, ``face-alignment-smoke``.
"""

from __future__ import annotations

from pathlib import Path

from facealign.manifest import read_manifest
from facealign.registry.register import aligner_hash, log_aligner_model
from facealign.registry.versions import ensure_version


def register_trained(aligner_dir: str | Path, cfg: dict, family: str | None = None) -> str:
    """Log ``aligner_dir`` as the model of the active (training) run and register it as a
    version of ``cfg.registry.name`` from that run, once per content hash.

    The version carries family, ``aligner_hash``, ``git_commit``, ``source_run``,
    ``registered_by`` = ``training`` and the run's ``train_data_hash`` and ``preset``.

    Returns:
        The version holding the content (an earlier one when the same content was registered).
    """
    import mlflow
    from mlflow import MlflowClient

    from facealign import tracking

    run = mlflow.active_run()
    if run is None:
        raise RuntimeError("register_trained: no active MLflow run (call it inside the training run)")
    aligner_dir = Path(aligner_dir)
    family = family or read_manifest(aligner_dir)["family"]
    uri, name = tracking.tracking_uri(cfg), cfg["registry"]["name"]
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    run_tags = client.get_run(run.info.run_id).data.tags
    tags = {"family": family, "git_commit": run_tags.get("git_commit", tracking.git_commit()),
            "source_run": run.info.run_id, "registered_by": "training",
            **{k: run_tags[k] for k in ("train_data_hash", "preset") if k in run_tags}}

    def log_model() -> tuple[str, dict[str, str]]:
        return log_aligner_model(aligner_dir).model_uri, tags

    return ensure_version(client, uri, name, aligner_hash(aligner_dir), log_model)[0]
