"""Console hygiene for Lightning trainings started from the command line or a bench."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable


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


def run_training(train: Callable[[dict], dict], cfg: dict, command: str) -> int:
    """Run a family's ``train(cfg)`` quietly and print its metrics; the exit code.

    A non-finite loss (:class:`lightning_modules.errors.NonFiniteLossError`) is one line on
    stderr naming ``command`` and exit code 1, not a traceback.
    """
    from lightning_modules.errors import NonFiniteLossError

    quiet_lightning()
    try:
        metrics = train(cfg)
    except NonFiniteLossError as exc:
        print(f"facealign {command}: error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(metrics, indent=2))
    return 0
