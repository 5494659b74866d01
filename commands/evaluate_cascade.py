"""``facealign evaluate-cascade``: the trained cascade on the test set, overall and per stage.

Writes the metrics contract ``metrics/cascade.json`` (+ CED CSV/PNG and overlays, see
:func:`facealign.evaluation.evaluate`) and ``metrics/cascade_stages.json``: the NME after
each stage, stage 0 being the initialisation (the mean parameters placed by the box).
The results are also logged to the training's MLflow run.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "evaluate the trained cascade: metrics/cascade.json and the NME after every stage"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="aligner directory or registry URI (default: cascade.output)")
    parser.add_argument("--data", help="test folder (default: <paths.data>/test)")
    parser.add_argument("--output", help="metrics JSON (default: <paths.metrics>/cascade.json)")
    parser.add_argument("--batch-size", type=int, default=32)


class StageRecorder:
    """Wraps a loaded cascade aligner for one evaluation pass: aligns as usual and keeps the
    landmarks (B, 68, 2) of every stage's estimate.

    A cascade loaded with test-time flip averaging (:class:`~facealign.aligners.flip_average.FlipAveraged`)
    answers flip-averaged landmarks; its per-stage landmarks are the direct pass's.
    """

    def __init__(self, aligner) -> None:
        self.aligner, self.name = aligner, aligner.name
        self.cascade = getattr(aligner, "inner", aligner)
        self.content_hash = aligner.content_hash  # what the metrics file records it measured
        self.landmarks: list[list] = [[] for _ in range(self.cascade.stages + 1)]

    def align(self, images, boxes):
        from facealign.aligners.flip_average import average_with_mirror, mirror_inputs

        history, alignments = self.cascade.align_with_history(images, boxes)
        for k, params in enumerate(history):
            self.landmarks[k].append(self.cascade.landmarks(params))
        if self.cascade is self.aligner:
            return alignments
        flipped, flipped_boxes = mirror_inputs(images, boxes)  # the direct pass is the one above
        return average_with_mirror(alignments, self.cascade.align(flipped, flipped_boxes), images)

    def stage_reports(self, folder: str | Path) -> list[dict]:
        """The NME report (percent, by yaw bin) after every stage, stage 0 = p_0."""
        import numpy as np

        from facealign.evaluation import load_benchmark
        from faceeval.nme import nme_per_image, summarize

        bench = load_benchmark(folder)
        out = []
        for k, chunks in enumerate(self.landmarks):
            nme = nme_per_image(np.concatenate(chunks).astype(np.float64), bench.landmarks)
            out.append({"stage": k, **summarize(nme, bench.yaw_deg).to_dict()})
        return out


def log_to_run(cfg: dict, run_id: str, metrics: dict, stages: list[dict], files: list[Path]) -> None:
    """Test metrics and evaluation artefacts into the training's MLflow run."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from facealign.tracking import tracking_uri

    mlflow.set_tracking_uri(tracking_uri(cfg))
    client = MlflowClient()
    for key, value in metrics.items():
        if isinstance(value, (int, float)) and value is not None:
            client.log_metric(run_id, f"test_{key}", float(value))
    for row in stages:
        if row["nme_mean"] is not None:
            client.log_metric(run_id, "test_nme_after_stage", float(row["nme_mean"]), step=row["stage"])
    for path in files:
        if path.is_file():
            client.log_artifact(run_id, str(path), artifact_path="evaluation")


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.evaluation import evaluate, load_face_model
    from facealign.registry.loading import load_aligner
    from faceeval.report import format_table

    model = args.model or cfg["cascade"]["output"]
    data = args.data or str(Path(cfg["paths"]["data"]) / "test")
    output = Path(args.output or Path(cfg["paths"]["metrics"]) / "cascade.json")
    aligner = load_aligner(model, cfg["paths"]["face_model"])
    if not hasattr(getattr(aligner, "inner", aligner), "align_with_history"):
        raise ValueError(f"{model}: not a cascade aligner")
    recorder = StageRecorder(aligner)
    metrics = evaluate(recorder, data, output, batch_size=args.batch_size,
                       n_overlays=int(cfg["evaluate"]["overlays"]), progress=False,
                       face_model=load_face_model(cfg["paths"]["face_model"]))
    stages = recorder.stage_reports(data)
    stages_path = output.with_name(f"{output.stem}_stages.json")
    stages_path.write_text(json.dumps({"stages": stages}, indent=2) + "\n")
    print(format_table({"cascade": metrics}))
    print(format_table({f"after stage {r['stage']}": r for r in stages}))
    run_id = recorder.cascade.bundle.info.get("mlflow_run_id")
    if run_id and cfg["cascade"].get("mlflow", True):
        stem = output.with_suffix("")
        files = [output, stages_path, Path(f"{stem}_ced.png"), Path(f"{stem}_ced.csv"),
                 Path(f"{stem}_overlays.png")]
        log_to_run(cfg, run_id, metrics, stages, files)
        print(f"evaluate-cascade: logged to MLflow run {run_id}")
    return 0
