"""Console hygiene for Lightning trainings started from the command line or a bench."""

from __future__ import annotations


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
