"""Fitting DFF-SDM / SIFT-SDM: the cascade of descent maps, learned in closed form.

Training follows the supervised descent method with the 3DMM in the loop.  Every
training image is cropped around its ground-truth landmark box (the benchmark's box);
each gets ``inits_per_image`` initial estimates - the mean face, frontal, placed by the
box, and randomly perturbed copies (scale, shift, angles).  For iteration ``k``:

1. ``F`` = descriptors at the visible projected landmarks of every current estimate;
2. ridge regressions from ``F`` to the landmark residuals ``X* - X_k`` (all L points, or
   the 68 iBUG landmarks with ``sdm.targets = ibug68``, the paper's X in R^136) and the
   camera residuals ``w* - w_k`` (ground truth from the 3DMM parameters of each image):
   one problem with a cross-validated strength (``sdm.ridge_mode = shared``) or the
   paper's separate landmark and camera maps with lambda_1 / lambda_2, bias penalised
   (``separate``, eqs. 9-10);
3. every training estimate is moved by the map's out-of-fold prediction (a map fitted on
   the other folds, so the estimates stay as imperfect as unseen faces' would be) and the
   face model is refitted to the moved landmarks, which yields the estimates, meshes and
   visibilities that iteration ``k + 1`` learns from: per face (``sdm.shape_update =
   per_image``) or as the paper's generic face model, one shape vector shared by the whole
   training set (``generic``, Sec. III-C4, eq. 11).

The ridge strengths of each iteration are chosen by the same cross-validation.

:func:`fit_cascade` is the array-level core; :func:`train` reads the data, writes the
aligner directory and records everything in MLflow.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from facealign.sdm.descriptors import Descriptor
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.regression import Cascade, RidgeFit, select_ridge, select_ridge_blocks
from facealign.sdm.settings import DESCRIPTORS, SDMSettings
from facealign.sdm.state import SDMGeometry, SDMState, features
from faceeval.nme import nme_per_image
from facegeom.morphable_model import MorphableModel
from faceio.atomic import atomic_directory
from training.sdm_data import TrainingSet, load_training_set, select_records
from training.sdm_validation import validate

DESCRIPTIONS = {
    "dff": "DFF-SDM: cascaded ridge regressions from Deep Face Feature descriptors at projected mesh points",
    "sift": "SIFT-SDM: cascaded ridge regressions from SIFT descriptors at projected mesh points (baseline)",
}


def perturbed_states(geometry: SDMGeometry, boxes: np.ndarray, settings: SDMSettings,
                     rng: np.random.Generator) -> list[SDMState]:
    """``inits_per_image`` initial states for boxes (n, 4): the exact one, then perturbed ones.

    Perturbations: ``f`` times ``exp(N(0, perturb_scale))``, ``(tx, ty)`` plus
    ``N(0, perturb_shift)`` times the box size, each angle plus ``N(0, perturb_angle_deg)``.
    """
    base = geometry.initial_state(boxes)
    size = np.sqrt(np.prod(np.maximum(boxes[:, 2:] - boxes[:, :2], 1e-6), axis=1))
    states = [base]
    for _ in range(settings.inits_per_image - 1):
        pose = base.pose.copy()
        n = len(pose)
        pose[:, 0] *= np.exp(rng.normal(0.0, settings.perturb_scale, n))
        pose[:, 1:4] += rng.normal(0.0, np.deg2rad(settings.perturb_angle_deg), (n, 3))
        pose[:, 4:6] += rng.normal(0.0, settings.perturb_shift, (n, 2)) * size[:, None]
        states.append(SDMState(pose, base.coeffs.copy()))
    return states


def landmark_nme(geometry: SDMGeometry, state: SDMState, points: np.ndarray) -> float:
    """Mean NME (fraction) of the 68 iBUG points of ``state`` against ``points`` (n, L, 2)."""
    pred = geometry.points(state)[:, :68, :2]
    return float(np.nanmean(nme_per_image(pred, points[:, :68])))


def descent_map(features: np.ndarray, residuals: np.ndarray, n_landmark_outputs: int,
                settings: SDMSettings, seed: int) -> tuple[RidgeFit, dict[str, float]]:
    """One iteration's descent map from features (N, D) to residuals (N, 2T + 6).

    ``sdm.ridge_mode = shared``: one ridge problem, strength from ``sdm.ridge`` scored on
    the landmark columns, intercept unpenalised.  ``separate``: the paper's eqs. 9-10, a
    landmark map with lambda_1 from ``sdm.lambda_landmarks`` and a camera map with lambda_2
    from ``sdm.lambda_camera``, each bias penalised with its matrix.

    Returns:
        the fit (map and out-of-fold predictions) and the chosen strengths by name
        (``ridge``, or ``lambda_landmarks`` and ``lambda_camera``).
    """
    if settings.ridge_mode == "shared":
        fit = select_ridge(features, residuals, settings.ridge, settings.cv_folds,
                           slice(0, n_landmark_outputs), seed)
        return fit, {"ridge": fit.strength}
    blocks = ((slice(0, n_landmark_outputs), settings.lambda_landmarks),
              (slice(n_landmark_outputs, residuals.shape[1]), settings.lambda_camera))
    fit, (lam1, lam2) = select_ridge_blocks(features, residuals, blocks, settings.cv_folds, seed,
                                            penalise_bias=True)
    return fit, {"lambda_landmarks": lam1, "lambda_camera": lam2}


def fit_cascade(geometry: SDMGeometry, descriptor: Descriptor, data: TrainingSet,
                settings: SDMSettings, rng: np.random.Generator,
                log: Any = None) -> tuple[Cascade, list[dict[str, float]]]:
    """Learn ``settings.iterations`` descent maps (see the module docstring).

    Args:
        geometry: the landmark set and face model.
        descriptor: DFF or SIFT, working at ``descriptor.image_size``.
        data: the training faces.
        settings: the ``sdm`` parameters.
        rng: source of the initial perturbations.
        log: optional ``print``-like callable for progress lines.
    Returns:
        the cascade and, per iteration, ``{"iteration", "train_nme", "seconds"}`` plus the
        strengths used (``ridge``, or ``lambda_landmarks`` and ``lambda_camera``; none for
        iteration 0) (NME as a fraction, over all training estimates, after the
        iteration's update).
    """
    states = perturbed_states(geometry, data.boxes, settings, rng)
    n_inits = len(states)
    gt_pose = np.tile(data.pose, (n_inits, 1))
    gt_points = np.tile(data.points, (n_inits, 1, 1))
    state = SDMState(np.concatenate([s.pose for s in states]), np.concatenate([s.coeffs for s in states]))
    history = [{"iteration": 0, "train_nme": landmark_nme(geometry, state, gt_points), "seconds": 0.0}]
    maps = []
    n = len(data)
    for k in range(settings.iterations):
        start = time.perf_counter()
        feats = np.concatenate([
            features(geometry, descriptor, data.prepared,
                     SDMState(state.pose[j * n : (j + 1) * n], state.coeffs[j * n : (j + 1) * n]))
            for j in range(n_inits)
        ])
        fit, strengths = descent_map(feats, geometry.residual(state, gt_points, gt_pose),
                                     2 * geometry.n_targets, settings, settings.seed + k)
        state = geometry.update(state, fit.predictions, descriptor.image_size,
                                shared=settings.shape_update == "generic")
        maps.append(fit.descent)
        history.append({"iteration": k + 1, "train_nme": landmark_nme(geometry, state, gt_points),
                        "seconds": time.perf_counter() - start, **strengths})
        if log is not None:
            chosen = ", ".join(f"{key} {value:g}" for key, value in strengths.items())
            log(f"  iteration {k + 1}: train NME {100 * history[-1]['train_nme']:.2f}%, {chosen} "
                f"({history[-1]['seconds']:.1f} s, {feats.shape[0]} samples x {feats.shape[1]} features)")
    return Cascade(tuple(maps)), history


def _write_aligner(out_dir: Path, model: Any, vertex_ids: np.ndarray, cascade: Cascade, descriptor: str,
                   settings: SDMSettings, training: dict) -> None:
    """Write the aligner directory atomically (a ``.partial`` sibling renamed at the end)."""
    from facealign.aligners.sdm import EXTRACTOR_DIR, save_sdm_aligner

    with atomic_directory(out_dir) as tmp:
        save_sdm_aligner(tmp, model, vertex_ids, cascade, descriptor, settings, training)
        if descriptor == "dff":
            shutil.copytree(settings.dff_model, tmp / EXTRACTOR_DIR)


def _evaluate_and_log(out_dir: Path, test_dir: Path, overlays: int) -> dict[str, float]:
    """Evaluate the saved aligner on ``test_dir``; log metrics and report files to MLflow."""
    import mlflow

    from facealign.aligners.sdm import load_sdm_aligner
    from facealign.evaluation import evaluate
    from facealign.tracking import log_dataset

    aligner = load_sdm_aligner(out_dir)
    log_dataset(test_dir, "evaluation")
    with tempfile.TemporaryDirectory() as tmp:
        summary = evaluate(aligner, test_dir, Path(tmp) / f"{out_dir.name}.json", n_overlays=overlays,
                           progress=False)
        mlflow.log_artifacts(tmp, "evaluation")
    numbers = _numbers(summary, "test_")
    mlflow.log_metrics(numbers)
    return numbers


def _numbers(summary: dict, prefix: str) -> dict[str, float]:
    """The finite numeric entries of a metrics dict, keys prefixed."""
    return {f"{prefix}{k}": float(v) for k, v in summary.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)}


def _log_shared_metrics(history: list[dict[str, float]], metrics: dict[str, float]) -> None:
    """Log the fit under the names the families share (docs/mlflow.md): the curves
    ``train_nme`` (percent) and ``ridge`` with step = iteration, ``val_nme`` (percent, mean
    over the held-out images) at the last iteration, and every other figure as it is."""
    import mlflow
    from mlflow.entities import Metric

    stamp, last = int(time.time() * 1000), history[-1]["iteration"]
    curves = [Metric("train_nme", 100 * h["train_nme"], stamp, h["iteration"]) for h in history]
    curves += [Metric("ridge", h["ridge"], stamp, h["iteration"]) for h in history[1:]]
    if "val_nme_sample_mean" in metrics:
        curves.append(Metric("val_nme", metrics["val_nme_sample_mean"], stamp, last))
    mlflow.MlflowClient().log_batch(mlflow.active_run().info.run_id, metrics=curves)
    mlflow.log_metrics({k: v for k, v in metrics.items() if not k.startswith(("train_nme_", "ridge_"))})


def fit_notes(model: MorphableModel, settings: SDMSettings) -> list[str]:
    """What the fit does that the settings alone do not say: components capped by the model."""
    notes = []
    for key, kind, wanted, have in (("n_id", "identity", settings.n_id, model.n_id),
                                    ("n_exp", "expression", settings.n_exp, model.n_exp)):
        if wanted > have:
            notes.append(f"sdm.{key} = {wanted} but the face model has {have} {kind} components: "
                         f"fitting {have}")
    notes.append(f"shape update {settings.shape_update}, {settings.n_targets} regressed landmarks, "
                 f"ridge {settings.ridge_mode}")
    return notes


def train(cfg: dict, descriptor: str, output: str | Path | None = None,
          log: Callable[[str], None] = print) -> dict[str, float]:
    """Fit DFF-SDM or SIFT-SDM on ``paths.data/train`` and save it as an aligner directory.

    ``sdm.train_images`` random training images are fitted and ``sdm.validation_images``
    more are held out; the MLflow run gets the parameters, the training NME after every
    iteration, timings and the validation metrics, CED and overlays (and the test ones with
    ``sdm.evaluate_test``).

    Args:
        cfg: the resolved configuration (sections ``paths``, ``sdm``, ``mlflow``, ``evaluate``).
        descriptor: ``"dff"`` or ``"sift"``.
        output: the aligner directory (default ``models/<descriptor>_sdm``).
        log: progress lines go here.
    Returns:
        metrics: ``train_nme_<k>`` (percent, after iteration k), timings in seconds,
        ``val_<metric>`` and, with ``sdm.evaluate_test``, ``test_<metric>``.
    """
    import mlflow

    from facealign.aligners.sdm import build_geometry, make_descriptor
    from facealign.data import readers
    from facealign.registry.trained import register_trained
    from facealign.tracking import training_run

    if descriptor not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {descriptor!r} (one of {', '.join(DESCRIPTORS)})")
    settings = SDMSettings.from_section(cfg.get("sdm") or {})
    out_dir = Path(output or Path("models") / f"{descriptor}_sdm")
    data_dir = Path(cfg["paths"]["data"])
    overlays = int((cfg.get("evaluate") or {}).get("overlays", 16))
    model = MorphableModel.load(cfg["paths"]["face_model"])
    rng = np.random.default_rng(settings.seed)
    vertex_ids = landmark_vertices(model, settings.n_landmarks)
    for note in fit_notes(model, settings):
        log(f"fit {descriptor}-sdm: {note}")
    geometry = build_geometry(model, vertex_ids, settings)
    desc = make_descriptor(descriptor, settings)
    with training_run(cfg, run_name=f"fit_{descriptor}_sdm", family=f"{descriptor}_sdm",
                      data_dir=data_dir / "train", description=DESCRIPTIONS[descriptor]) as run:
        start = time.perf_counter()
        wanted = settings.train_images + settings.validation_images if settings.train_images else 0
        records = select_records(readers.read_folder(data_dir / "train"), wanted, rng)
        n_val = min(settings.validation_images, len(records) // 4)
        data, val = load_training_set(records, model, vertex_ids, desc, settings.crop_scale,
                                      augment=settings.augment, n_augmented=len(records) - n_val,
                                      seed=settings.seed).split(len(records) - n_val)
        prepare_s = time.perf_counter() - start
        log(f"fit {descriptor}-sdm: {len(data)} images x {settings.inits_per_image} inits "
            f"(+{n_val} validation), {desc.image_size} px crops, descriptors in {prepare_s:.1f} s")
        cascade, history = fit_cascade(geometry, desc, data, settings, rng, log=log)
        metrics: dict[str, float] = {f"train_nme_{h['iteration']}": 100 * h["train_nme"] for h in history}
        metrics.update({f"{key}_{h['iteration']}": h[key] for h in history[1:]
                        for key in ("ridge", "lambda_landmarks", "lambda_camera") if key in h})
        metrics.update({"prepare_s": prepare_s, "regression_s": sum(h["seconds"] for h in history),
                        "n_train_images": float(len(data)), "n_val_images": float(n_val),
                        "n_features": float(desc.dim * len(vertex_ids))})
        with tempfile.TemporaryDirectory() as tmp:
            if n_val:
                yaw = np.array([readers.yaw_degrees(r) for r in records[len(data):]])
                summary = validate(geometry, desc, cascade, val, yaw, tmp, f"{descriptor}_sdm_val", overlays)
                metrics.update(_numbers(summary, "val_"))
                mlflow.log_artifacts(tmp, "validation")
        _write_aligner(out_dir, model, vertex_ids, cascade, descriptor, settings,
                       {"mlflow_run_id": run.info.run_id, **{k: round(v, 4) for k, v in metrics.items()}})
        metrics["fit_s"] = time.perf_counter() - start
        _log_shared_metrics(history, metrics)
        mlflow.log_artifact(str(out_dir / "aligner.json"))
        version = register_trained(out_dir, cfg, family=f"{descriptor}_sdm")
        log(f"fit {descriptor}-sdm: {out_dir} is {cfg['registry']['name']} v{version} "
            f"(run {run.info.run_id})")
        test_dir = data_dir / "test"
        if settings.evaluate_test and test_dir.is_dir():
            metrics.update(_evaluate_and_log(out_dir, test_dir, overlays))
    log(f"fit {descriptor}-sdm: wrote {out_dir} in {metrics['fit_s']:.1f} s"
        + (f", validation NME {metrics['val_nme_mean']:.2f}%" if "val_nme_mean" in metrics else ""))
    return metrics
