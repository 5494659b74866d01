"""The sweep's MLflow record, written from the driver only (one writer).

One parent run per sweep; one child run per trial (tag ``mlflow.parentRunId``) holding the
trial's full configuration and its per-epoch metric, so the MLflow UI compares schedules
side by side.  Trials never open MLflow runs: Ray ends a stopped trial abruptly, which
would leave a run logged from inside it RUNNING.  Here each child run is closed when Tune
reports its trial complete (FINISHED, tagged ``stopped_early`` when the scheduler stopped
it), failed after its retries (FAILED) or interrupted (KILLED, reopened on ``--resume``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray.tune import Callback

from facealign.config import flatten
from tuning.search_space import schedule_knobs

TRIAL_TAG = "ray_trial_id"
PARENT_TAG = "mlflow.parentRunId"


def _client(tracking_uri: str) -> Any:
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri)


def _log_params(client: Any, run_id: str, params: dict[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:500]) for k, v in params.items()]
    for start in range(0, len(items), 100):  # MLflow caps a batch at 100 params
        client.log_batch(run_id, params=items[start : start + 100])


def start_parent_run(tracking_uri: str, experiment_id: str, name: str, params: dict[str, Any],
                     tags: dict[str, str]) -> str:
    """Create the sweep's parent run (RUNNING) with its settings; returns its id."""
    client = _client(tracking_uri)
    run = client.create_run(experiment_id, run_name=name, tags={"sweep": name, **tags})
    _log_params(client, run.info.run_id, flatten(params))
    return run.info.run_id


def reopen_run(tracking_uri: str, run_id: str) -> None:
    """Mark a run RUNNING again (a resumed sweep)."""
    _client(tracking_uri).update_run(run_id, status="RUNNING")


def end_run(tracking_uri: str, run_id: str, status: str, tags: dict[str, str] | None = None,
            metrics: dict[str, float] | None = None) -> None:
    """Close a run with ``status`` (FINISHED / FAILED / KILLED), setting tags and metrics first."""
    client = _client(tracking_uri)
    for key, value in (tags or {}).items():
        client.set_tag(run_id, key, str(value))
    for key, value in (metrics or {}).items():
        client.log_metric(run_id, key, float(value))
    client.set_terminated(run_id, status=status)


def child_runs(tracking_uri: str, experiment_id: str, parent_run_id: str) -> dict[str, Any]:
    """``{trial_id: Run}`` of the parent's child runs."""
    runs = _client(tracking_uri).search_runs(
        [experiment_id], filter_string=f"tags.`{PARENT_TAG}` = '{parent_run_id}'", max_results=10000)
    return {r.data.tags[TRIAL_TAG]: r for r in runs if TRIAL_TAG in r.data.tags}


def close_unfinished_children(tracking_uri: str, experiment_id: str, parent_run_id: str,
                              status: str = "KILLED") -> int:
    """Close every child run still RUNNING (an interrupted sweep); returns how many."""
    client = _client(tracking_uri)
    runs = [r for r in child_runs(tracking_uri, experiment_id, parent_run_id).values()
            if r.info.status == "RUNNING"]
    for run in runs:
        client.set_terminated(run.info.run_id, status=status)
    return len(runs)


class MlflowSweepLogger(Callback):
    """A Tune callback, run by the driver, that keeps one MLflow child run per trial.

    It holds only plain data so Tune can store it with the experiment; on ``--resume`` it
    finds the existing child runs by their ``ray_trial_id`` tag.

    Args:
        tracking_uri, experiment_id: the MLflow store and experiment.
        parent_run_id: the sweep's parent run.
        metric: the reported metric (logged per epoch, step = ``epoch``).
        max_epochs: epochs of a full trial (a trial that ends sooner was stopped early).
        sweep_params: settings logged on every child run (model, scheduler, resources ...).
        train_params: ``train_params(trial_config) -> {name: value}``, the family settings the
            trial trains with (e.g. ``cascade.schedule_knobs.min_factor``); must be picklable.
            Without it the trial's schedule knobs are logged as ``knobs.*``.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, parent_run_id: str, metric: str,
                 max_epochs: int, sweep_params: dict[str, Any],
                 train_params: Callable[[dict], dict[str, Any]] | None = None) -> None:
        self.tracking_uri, self.experiment_id, self.parent_run_id = tracking_uri, experiment_id, parent_run_id
        self.metric, self.max_epochs, self.sweep_params = metric, int(max_epochs), dict(sweep_params)
        self.train_params = train_params
        self._runs: dict[str, str] = {}
        self._client_obj: Any = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_client_obj"], state["_runs"] = None, {}
        return state

    @property
    def _client(self) -> Any:
        if self._client_obj is None:
            self._client_obj = _client(self.tracking_uri)
        return self._client_obj

    def setup(self, **info: Any) -> None:
        self._runs = {tid: run.info.run_id for tid, run in
                      child_runs(self.tracking_uri, self.experiment_id, self.parent_run_id).items()}

    def run_id(self, trial: Any) -> str:
        """The trial's child run, created (with its parameters) the first time."""
        if trial.trial_id in self._runs:
            return self._runs[trial.trial_id]
        config = dict(trial.config)
        schedule = config.get("schedule", "")
        params = {k: v for k, v in config.items() if k != "knobs"}
        params.update(flatten(self.sweep_params, "sweep."))
        if self.train_params:
            params.update(self.train_params(config))
        else:
            params.update({f"knobs.{k}": v for k, v in schedule_knobs(config, self.max_epochs).items()})
        run = self._client.create_run(self.experiment_id, run_name=f"{trial.trial_id}-{schedule or 'trial'}",
                                      tags={PARENT_TAG: self.parent_run_id, TRIAL_TAG: trial.trial_id,
                                            "schedule": str(schedule), "trial_name": str(trial)})
        _log_params(self._client, run.info.run_id, params)
        self._runs[trial.trial_id] = run.info.run_id
        return run.info.run_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        run_id = self.run_id(trial)
        if self._client.get_run(run_id).info.status != "RUNNING":
            self._client.update_run(run_id, status="RUNNING")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        from mlflow.entities import Metric

        if self.metric not in result:
            return
        step = int(result.get("epoch", result.get("training_iteration", 0)))
        stamp = int(result.get("timestamp", 0) * 1000)
        values = {self.metric: result[self.metric], "lr": result.get("lr"),
                  "base_lr": trial.config.get("lr")}
        metrics = [Metric(k, float(v), stamp, step) for k, v in values.items() if v is not None]
        self._client.log_batch(self.run_id(trial), metrics=metrics)

    def _close(self, trial: Any, status: str, tags: dict[str, Any]) -> None:
        epochs = int((trial.last_result or {}).get("training_iteration", 0))
        end_run(self.tracking_uri, self.run_id(trial), status,
                tags={"epochs_run": epochs, "failed_attempts": trial.num_failures, **tags})

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        epochs = int((trial.last_result or {}).get("training_iteration", 0))
        self._close(trial, "FINISHED", {"stopped_early": str(epochs < self.max_epochs).lower()})

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._client.set_tag(self.run_id(trial), "failed_attempts", str(trial.num_failures))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        try:  # the driver's local copy is written first; storage receives it on the next sync
            local = Path(trial.error_file) if trial.error_file else None
            if local is not None and local.is_file():
                message = local.read_text()
            else:
                message = str(trial.get_error() or "")
        except Exception as exc:  # noqa: BLE001 - the error text is a courtesy, never fatal
            message = f"(error text unavailable: {exc})"
        self._close(trial, "FAILED", {"error": message[-4000:]})
