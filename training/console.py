"""Console hygiene for Lightning trainings started from the command line or a bench."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, TextIO

import pytorch_lightning as pl


def quiet_lightning() -> None:
    """Keep Lightning's per-trainer banners and known deprecation chatter off the console."""
    import logging
    import warnings

    import pytorch_lightning  # noqa: F401 - configures its loggers on import; override after

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*LeafSpec.*")
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    # our checkpoint folders hold a resume fingerprint (and last.ckpt when resuming) by design
    warnings.filterwarnings("ignore", message="Checkpoint directory .* exists and is not empty")


class EpochProgress(pl.Callback):
    """One line per finished training epoch, for pipeline logs (no progress-bar redraws).

    ``train-cascade: stage 1 epoch 5/28: train_loss 0.0123, val_nme 8.41 %, 3.2 s``: the stage
    (when the module has a ``stage``), the epoch (1-based) of the trainer's ``max_epochs``, the
    epoch's logged metrics (``*nme*`` in percent) and its wall time in seconds.  Global rank 0 only;
    each line is flushed at once.
    """

    def __init__(self, command: str, stream: TextIO | None = None) -> None:
        self.command, self.stream = command, stream
        self._start = time.perf_counter()

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not trainer.is_global_zero or trainer.sanity_checking:
            return
        stage = getattr(pl_module, "stage", None)
        where = f"stage {stage} " if isinstance(stage, int) else ""
        metrics = [f"{k} {float(v):.4g}{' %' if 'nme' in k else ''}"
                   for k, v in sorted(trainer.callback_metrics.items()) if v.numel() == 1]
        total = f"/{trainer.max_epochs}" if trainer.max_epochs and trainer.max_epochs > 0 else ""
        print(f"{self.command}: {where}epoch {trainer.current_epoch + 1}{total}: "
              f"{', '.join([*metrics, f'{time.perf_counter() - self._start:.1f} s'])}",
              file=self.stream or sys.stdout, flush=True)


def run_training(train: Callable[..., dict], cfg: dict, command: str,
                 callbacks: Sequence[Any] = ()) -> int:
    """Run a family's ``train(cfg)`` quietly and print its metrics; the exit code.

    ``callbacks`` (e.g. :class:`EpochProgress`) go to ``train(cfg, callbacks=...)``.  A non-finite
    loss (:class:`lightning_modules.errors.NonFiniteLossError`) is one line on stderr naming
    ``command`` and exit code 1, not a traceback.
    """
    from lightning_modules.errors import NonFiniteLossError

    quiet_lightning()
    try:
        metrics = train(cfg, callbacks=list(callbacks)) if callbacks else train(cfg)
    except NonFiniteLossError as exc:
        print(f"facealign {command}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, indent=2))
    return 0
