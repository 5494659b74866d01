"""One sweep from start (or ``--resume``) to its table, ``best.json`` and candidate model.

The driver prepares everything trials must not race on: it checks the training data,
creates the MLflow store, experiment and parent run, and writes ``sweep.json`` (settings,
search space, MLflow ids, Tune's experiment path) before any trial starts.  Tune keeps its
experiment state under ``<storage_path>/<experiment>/``; Ctrl-C ends the sweep cleanly
(Tune saves its state, unfinished child runs are closed KILLED) and ``--resume``
continues it without re-running finished trials.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facealign.config import flatten, set_dotted
from tuning import cluster, mlflow_logging, results
from tuning.families import Family, get_family
from tuning.progress import ConsoleProgress
from tuning.search_space import load_space, to_param_space
from tuning.settings import SweepSettings
from tuning.trainable import TrialSpec, run_trial

STATE_FILE = "sweep.json"
BEST_FILE = "best.json"


class ResumeError(FileNotFoundError):
    """``--resume`` without a sweep to resume."""


@dataclass
class SweepOutcome:
    """The end of a sweep: ``finished`` or ``interrupted`` (resumable), its trials and best."""

    status: str
    rows: list[results.TrialRow]
    best: dict[str, Any] | None
    wall_s: float
    experiment_path: str
    table: str = ""
    state: dict[str, Any] = field(default_factory=dict)


def training_config(cfg: dict, settings: SweepSettings, family: Family) -> dict:
    """The pipeline config with the sweep's ``train_overrides`` applied, input paths absolute."""
    import copy

    cfg = copy.deepcopy(cfg)
    for dotted, value in settings.train_overrides.items():
        set_dotted(cfg, dotted, value, "params.yaml tune.train_overrides")
    family.check_inputs(cfg)
    return family.absolute_inputs(cfg)


def _trial_dirname(trial: Any) -> str:
    return f"trial_{trial.trial_id}"


def trial_train_params(spec: TrialSpec, trial_config: dict[str, Any]) -> dict[str, Any]:
    """The family section a trial trains with, as dotted ``params.yaml`` keys (``cascade.lr`` ...).

    Placeholders stand for what only the trial knows (its folder; its device is per trial).
    """
    cfg = spec.family.trial_config(spec.base_cfg, trial_config, spec.max_epochs, "<trial dir>",
                                   "gpu" if spec.gpus else "cpu", max(1, int(spec.cpus)), spec.pbt)
    return flatten({spec.family.name: spec.family.train_section(cfg)})


def _new_state(settings: SweepSettings, cfg: dict, family: Family) -> dict[str, Any]:
    from facealign.tracking import ensure_experiment, git_commit, tracking_uri

    space = load_space(settings.model, settings.space_file)
    uri = tracking_uri(cfg)
    experiment_id = ensure_experiment(  # the store exists before trials start
        cfg, settings.experiment, description=f"Ray Tune sweeps of the {family.name} family: one parent run "
        f"per sweep, one child run per trial ({family.metric}, lr per epoch; docs/tuning.md)")
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    parent = mlflow_logging.start_parent_run(
        uri, experiment_id, f"{settings.experiment}-{stamp}",
        params={"settings": {k: v for k, v in settings.to_json().items() if k != "train_overrides"},
                "train_overrides": settings.train_overrides, "space": space},
        tags={"family": family.name, "scheduler": settings.scheduler, "git_commit": git_commit(),
              "mlflow.source.git.commit": git_commit()})
    return {"settings": settings.to_json(), "space": space, "tracking_uri": uri,
            "mlflow_experiment_id": experiment_id, "parent_run_id": parent,
            "tune_path": f"{settings.tune_storage}/run-{stamp}", "started": stamp}


def load_state(settings: SweepSettings) -> dict[str, Any]:
    """The ``sweep.json`` of ``settings.experiment`` (for ``--resume``)."""
    import json

    path = settings.experiment_dir / STATE_FILE
    if not path.is_file():
        raise ResumeError(f"{path}: no sweep named {settings.experiment!r} to resume "
                          f"(run it without --resume first, or pass its --experiment)")
    return json.loads(path.read_text())


def _tuner(state: dict[str, Any], settings: SweepSettings, family: Family, spec: TrialSpec,
           resume: bool, verbose: int) -> Any:
    from ray import tune

    from tuning.schedulers import build_scheduler, build_searcher

    trainable = tune.with_resources(tune.with_parameters(run_trial, spec=spec),
                                    cluster.trial_resources(settings))
    if resume:
        return tune.Tuner.restore(state["tune_path"], trainable=trainable, resume_unfinished=True,
                                  resume_errored=False, restart_errored=False)
    total_epochs = settings.max_epochs * family.n_fits(spec.base_cfg)
    logger = mlflow_logging.MlflowSweepLogger(
        state["tracking_uri"], state["mlflow_experiment_id"], state["parent_run_id"], family.metric,
        total_epochs, sweep_params={"model": family.name, "scheduler": settings.scheduler,
                                    "max_epochs": settings.max_epochs, "seed": settings.seed,
                                    "cpus_per_trial": settings.cpus_per_trial,
                                    "gpus_per_trial": settings.gpus_per_trial,
                                    "workers_per_trial": settings.workers_per_trial,
                                    "train_overrides": settings.train_overrides},
        train_params=functools.partial(trial_train_params, spec))
    callbacks = [logger] + ([ConsoleProgress(family.metric, total_epochs)] if verbose == 1 else [])
    storage, name = state["tune_path"].rsplit("/", 1)
    return tune.Tuner(
        trainable,
        param_space=to_param_space(state["space"]),
        tune_config=tune.TuneConfig(
            metric=family.metric, mode="min", num_samples=settings.num_samples,
            search_alg=build_searcher(settings, cluster.max_concurrent_trials(settings)),
            scheduler=build_scheduler(settings, state["space"], total_epochs),
            trial_dirname_creator=_trial_dirname, trial_name_creator=_trial_dirname,
            # a trial's actor runs the next trial (no new process importing torch each time);
            # Tune falls back to a new actor when the old trial's thread does not end in time
            reuse_actors=True),
        run_config=tune.RunConfig(
            name=name, storage_path=storage, callbacks=callbacks, verbose=max(verbose - 1, 0),
            # PBT has no horizon of its own: a trial copied from one that had finished would
            # otherwise report again and again
            stop={"training_iteration": total_epochs} if spec.pbt else None,
            failure_config=tune.FailureConfig(max_failures=settings.max_failures),
            # PBT copies other trials' recent snapshots; otherwise a trial checkpoints once (its
            # model), and a num_to_keep would only force extra experiment-state snapshots
            checkpoint_config=tune.CheckpointConfig(num_to_keep=4 if spec.pbt else None)),
    )


def run_sweep(settings: SweepSettings, cfg: dict, resume: bool = False,
              train_fn: Callable[..., Any] | None = None, verbose: int = 1) -> SweepOutcome:
    """Run (or resume) a sweep; see the module docstring.

    Args:
        settings: the resolved settings (on resume, those saved in ``sweep.json`` are used).
        cfg: the pipeline configuration.
        resume: continue the sweep named ``settings.experiment``.
        train_fn: the training entry (default: the family's); tests pass a stand-in.
        verbose: 0 quiet, 1 a line per trial event, 2 Tune's status tables, 3 every result.
    """
    from ray import tune

    if resume:
        state = load_state(settings)
        if state.get("finished"):
            raise ResumeError(f"sweep {settings.experiment!r} has already finished: see "
                              f"{settings.experiment_dir / BEST_FILE}")
        settings = SweepSettings.from_json({**state["settings"], "address": settings.address})
    family = get_family(settings.model)
    train_cfg = training_config(cfg, settings, family)
    cluster.connect(settings)  # before any MLflow record: a cluster that is not there leaves none
    if resume:
        mlflow_logging.reopen_run(state["tracking_uri"], state["parent_run_id"])
    else:
        state = _new_state(settings, cfg, family)
    results.write_json(settings.experiment_dir / STATE_FILE, state)
    spec = TrialSpec(family=family, base_cfg=train_cfg, max_epochs=settings.max_epochs,
                     cpus=settings.cpus_per_trial, gpus=settings.gpus_per_trial,
                     workers=settings.workers_per_trial, pbt=settings.scheduler == "pbt",
                     storage=f"{settings.tune_storage}/train", train_fn=train_fn, quiet=verbose < 2)
    uri, parent = state["tracking_uri"], state["parent_run_id"]
    try:
        import ray

        print(cluster.describe(settings, ray.cluster_resources()))
        tuner = _tuner(state, settings, family, spec, resume, verbose)
        start = time.perf_counter()
        grid = tuner.fit()
    except BaseException as exc:  # Ctrl-C twice, too small a cluster, a driver error: close the record
        status = "KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED"
        mlflow_logging.close_unfinished_children(uri, state["mlflow_experiment_id"], parent)
        mlflow_logging.end_run(uri, parent, status)
        raise
    wall = time.perf_counter() - start
    trials = tune.ExperimentAnalysis(grid.experiment_path, storage_filesystem=grid.filesystem).trials
    rows = results.collect_rows(trials, family.metric, grid.filesystem)
    outcome = SweepOutcome("finished", rows, None, wall, grid.experiment_path, state=state)
    if any(r.outcome == "unfinished" for r in rows):
        outcome.status = "interrupted"
        mlflow_logging.close_unfinished_children(uri, state["mlflow_experiment_id"], parent)
        mlflow_logging.end_run(uri, parent, "KILLED", tags={"interrupted": "true"})
    else:
        outcome.best = _finish(settings, cfg, family, state, rows, grid.filesystem, wall)
        results.write_json(settings.experiment_dir / STATE_FILE, {**state, "finished": True})
    best_row = results.best_row(rows)
    outcome.table = results.format_table(rows, family.metric, best_row)
    return outcome


def _finish(settings: SweepSettings, cfg: dict, family: Family, state: dict[str, Any],
            rows: list[results.TrialRow], filesystem: Any, wall: float) -> dict[str, Any] | None:
    """Register the best trial's model, write ``best.json``, close the parent run."""
    from tuning.registration import fetch_model, register_candidate

    uri, parent = state["tracking_uri"], state["parent_run_id"]
    counts = {f"trials_{o.replace(' ', '_')}": sum(r.outcome == o for r in rows)
              for o in ("completed", "stopped early", "failed")}
    best = results.best_row(rows)
    record = None
    if best is not None:
        children = mlflow_logging.child_runs(uri, state["mlflow_experiment_id"], parent)
        run_id = children[best.trial_id].info.run_id if best.trial_id in children else None
        extra: dict[str, Any] = {"experiment": settings.experiment, "model": family.name,
                                 "mlflow_run_id": run_id, "mlflow_parent_run_id": parent,
                                 "mlflow_experiment_id": state["mlflow_experiment_id"],
                                 "tracking_uri": uri}
        model_dir = fetch_model(best.checkpoint, filesystem, settings.experiment_dir / "best_model")
        extra["model_dir"] = str(model_dir)
        if settings.register and run_id:
            try:
                extra.update(register_candidate(model_dir, family, cfg, run_id, settings.experiment,
                                                settings.experiment_dir))
            except Exception as exc:  # noqa: BLE001 - the sweep's results stand without the registry
                extra["registration_error"] = f"{type(exc).__name__}: {exc}"
                print(f"sweep: could not register the best model: {extra['registration_error']}")
        record = results.best_record(best, family.metric, settings.max_epochs, extra)
        results.write_json(settings.experiment_dir / BEST_FILE, record)
    metrics = {**counts, "wall_s": wall}
    if best is not None:
        metrics[f"best_{family.metric}"] = best.value
    tags = {"best_trial": best.trial_id if best else "none",
            "best_run_id": (record or {}).get("mlflow_run_id") or "none"}
    results.write_json(settings.experiment_dir / "trials.json", {"trials": results.rows_to_json(rows)})
    mlflow_logging.end_run(uri, parent, "FINISHED", tags=tags, metrics=metrics)
    return record
