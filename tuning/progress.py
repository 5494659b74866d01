"""One console line per trial event, instead of Tune's wide status tables (``-v 2`` shows those)."""

from __future__ import annotations

from typing import Any

from ray.tune import Callback


def _short(trial: Any) -> str:
    return f"trial {trial.trial_id}"


class ConsoleProgress(Callback):
    """Prints trial starts, per-epoch metrics, completions, retries and failures.

    Args:
        metric: the reported metric.
        total_epochs: epochs of a full trial (to tell a scheduler's early stop).
    """

    def __init__(self, metric: str, total_epochs: int) -> None:
        self.metric, self.total_epochs = metric, int(total_epochs)

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        c = trial.config
        what = ", ".join(f"{k} {c[k]:.2e}" if isinstance(c.get(k), float) else f"{k} {c[k]}"
                         for k in ("schedule", "lr", "batch_size", "weight_decay") if k in c)
        print(f"{_short(trial)} started: {what}", flush=True)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        if self.metric in result:
            print(f"{_short(trial)} epoch {result.get('training_iteration')}/{self.total_epochs}: "
                  f"{self.metric} {result[self.metric]:.4f}", flush=True)

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        epochs = int((trial.last_result or {}).get("training_iteration", 0))
        how = "finished" if epochs >= self.total_epochs else "stopped early by the scheduler"
        print(f"{_short(trial)} {how} after {epochs} epochs", flush=True)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"{_short(trial)} failed (attempt {trial.num_failures}); retrying", flush=True)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        print(f"{_short(trial)} failed after {trial.num_failures} attempts; recorded as failed", flush=True)
