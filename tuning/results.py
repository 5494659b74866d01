"""What a sweep leaves: the results table, the best trial and ``best.json``.

A trial's model is the ``model`` folder of its last checkpoint (see
:mod:`tuning.reporting`); trials that the scheduler stopped early have none.  The best
trial is the one with the lowest final metric among those that saved a model.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceio import atomic
from tuning.reporting import MODEL_DIR
from tuning.search_space import schedule_knobs

CHECKPOINT_PATH_KEY = "checkpoint_path"  # set by Ray's TuneReportCallback for Ray Train trials


@dataclass
class TrialRow:
    """One line of the results table."""

    trial_id: str
    status: str
    schedule: str
    lr: float
    epochs: int
    value: float
    failures: int = 0
    config: dict[str, Any] = field(default_factory=dict)
    checkpoint: str | None = None  # storage path of the last checkpoint, if any
    has_model: bool = False  # the last checkpoint holds the trained model

    @property
    def outcome(self) -> str:
        """completed, stopped early (by the scheduler), failed or unfinished (interrupted)."""
        if self.status == "TERMINATED":
            return "completed" if self.has_model else "stopped early"
        return "failed" if self.status == "ERROR" else "unfinished"


def _checkpoint_path(trial: Any) -> str | None:
    last = trial.last_result or {}
    if last.get(CHECKPOINT_PATH_KEY):
        return str(last[CHECKPOINT_PATH_KEY])
    checkpoint = trial.checkpoint
    return checkpoint.path if checkpoint is not None else None


def _has_model(checkpoint: str | None, filesystem: Any) -> bool:
    import pyarrow.fs

    if not checkpoint:
        return False
    info = filesystem.get_file_info(f"{checkpoint}/{MODEL_DIR}")
    return info.type == pyarrow.fs.FileType.Directory


def collect_rows(trials: list[Any], metric: str, filesystem: Any) -> list[TrialRow]:
    """Table rows from Tune's trials (``ExperimentAnalysis(...).trials``), in trial order.

    ``filesystem`` is the pyarrow filesystem of the sweep's storage (checkpoints live there).
    """
    rows = []
    for trial in sorted(trials, key=lambda t: t.trial_id):
        last = trial.last_result or {}
        config = dict(trial.config)
        checkpoint = _checkpoint_path(trial)
        rows.append(TrialRow(
            trial_id=trial.trial_id, status=str(trial.status), schedule=str(config.get("schedule", "-")),
            lr=float(config.get("lr", math.nan)), epochs=int(last.get("training_iteration", 0)),
            value=float(last.get(metric, math.nan)), failures=int(trial.num_failures),
            config=config, checkpoint=checkpoint, has_model=_has_model(checkpoint, filesystem)))
    return rows


def best_row(rows: list[TrialRow]) -> TrialRow | None:
    """The completed trial with the lowest metric (it saved a model), or None."""
    candidates = [r for r in rows if r.outcome == "completed" and not math.isnan(r.value)]
    return min(candidates, key=lambda r: r.value, default=None)


def format_table(rows: list[TrialRow], metric: str, best: TrialRow | None = None) -> str:
    """The end-of-sweep table: trial, schedule, base lr, epochs run, metric, outcome (* = best)."""
    header = f"{'trial':<14} {'schedule':<14} {'base lr':>9} {'epochs':>6} {metric:>9}  status"
    lines = [header, "-" * len(header)]
    for r in rows:
        mark = " *" if best is not None and r.trial_id == best.trial_id else ""
        value = "-" if math.isnan(r.value) else f"{r.value:.4f}"
        retry = f" ({r.failures} failed attempts)" if r.failures else ""
        lines.append(f"{r.trial_id:<14} {r.schedule:<14} {r.lr:>9.2e} {r.epochs:>6} {value:>9}  "
                     f"{r.outcome}{retry}{mark}")
    return "\n".join(lines)


def best_record(row: TrialRow, metric: str, max_epochs: int, extra: dict[str, Any]) -> dict[str, Any]:
    """The content of ``best.json`` for ``row`` (``extra``: MLflow ids, registry version ...)."""
    config = {k: v for k, v in row.config.items() if k != "knobs"}
    if "schedule" in config:
        config["schedule_knobs"] = schedule_knobs(row.config, max_epochs)
    return {"metric": metric, metric: row.value, "trial_id": row.trial_id, "epochs": row.epochs,
            "config": config, "checkpoint": row.checkpoint, **extra}


def write_json(path: str | Path, data: dict[str, Any]) -> Path:
    """Write ``data`` as JSON atomically (a reader never sees half a file)."""
    return atomic.write_json(path, data, default=str)


def rows_to_json(rows: list[TrialRow]) -> list[dict[str, Any]]:
    return [{k: v for k, v in asdict(r).items() if k != "config"} for r in rows]
