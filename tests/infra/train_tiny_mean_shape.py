"""A tiny training job for the real-server test: run as its own process, as a user would.

    MLFLOW_TRACKING_URI=http://... python train_tiny_mean_shape.py FACE_MODEL DATA_DIR WORK_DIR

Saves the mean-shape aligner of FACE_MODEL, evaluates it on DATA_DIR/test, logs a training
run with its metrics over HTTP and registers it as a version of ``face-alignment`` through
the project's registry API. Prints ``{"run_id": ..., "version": ..., "metrics": ...}``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def main(face_model: str, data_dir: str, work_dir: str) -> dict:
    import mlflow

    from facealign import tracking
    from facealign.aligners.mean_shape import MeanShapeAligner, save_mean_shape_aligner
    from facealign.config import load_params
    from facealign.evaluation import evaluate
    from facealign.registry import log_and_register
    from facegeom.morphable_model import MorphableModel

    work = Path(work_dir)
    cfg = load_params(REPO_ROOT / "params.yaml",
                      [f"paths.data={data_dir}", f"paths.face_model={face_model}",
                       f"paths.metrics={work / 'metrics'}"])
    model = MorphableModel.load(face_model)
    aligner_dir = save_mean_shape_aligner(model, work / "mean_shape")
    metrics = evaluate(MeanShapeAligner(model), Path(data_dir) / "test", work / "metrics" / "mean_shape.json",
                       n_overlays=2, progress=False)
    test_hash = tracking.data_hash(Path(data_dir) / "test")
    train_dir = Path(data_dir) / "train"
    with tracking.training_run(cfg, "mean-shape", family="mean_shape", data_dir=train_dir) as run:
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, int | float)})
        run_id = run.info.run_id
    version = log_and_register(aligner_dir, metrics, cfg, run_id=run_id, test_data_hash=test_hash)
    return {"run_id": run_id, "version": version, "metrics": metrics, "test_data_hash": test_hash}


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
