"""The trial scheduler (ASHA, PBT or FIFO) and the seeded search algorithm of a sweep.

Time is counted in ``training_iteration``: one report per validated epoch, over all the
fits of a training (cascade stages), so ``max_t`` is ``max_epochs * fits``.  The metric is
minimised (validation NME for the cascade).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from tuning.search_space import lr_mutation
from tuning.settings import SweepSettings

TIME_ATTR = "training_iteration"


def build_searcher(settings: SweepSettings, max_concurrent: int | None = None) -> Any:
    """Random search from Tune's variant generator, seeded: the same seed gives the same trials.

    ``max_concurrent`` caps the trials in flight (Tune ignores ``TuneConfig.max_concurrent_trials``
    for a variant generator, so the cap goes here).
    """
    from ray.tune.search.basic_variant import BasicVariantGenerator

    # An int seed: with a RandomState object Tune 2.60 draws nearly the same first trials.
    return BasicVariantGenerator(max_concurrent=int(max_concurrent or 0), random_state=int(settings.seed))


def build_scheduler(settings: SweepSettings, space: dict[str, Any], total_epochs: int) -> Any:
    """The scheduler named by ``settings.scheduler``.

    Args:
        settings: the sweep settings (``asha`` / ``pbt`` sub-settings).
        space: the search space (PBT resamples its ``lr``).
        total_epochs: epochs of a full trial (``max_t``).
    """
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler, PopulationBasedTraining

    if settings.scheduler == "fifo":
        return FIFOScheduler()
    if settings.scheduler == "asha":
        asha = settings.asha
        return ASHAScheduler(time_attr=TIME_ATTR, max_t=max(int(total_epochs), 1),
                             grace_period=min(int(asha.get("grace_period", 1)), int(total_epochs)),
                             reduction_factor=float(asha.get("reduction_factor", 2)))
    pbt = settings.pbt
    # PBT draws its perturbations from Python's and NumPy's global generators: seed them.
    random.seed(settings.seed)
    np.random.seed(settings.seed % 2**32)
    return PopulationBasedTraining(
        time_attr=TIME_ATTR, perturbation_interval=int(pbt.get("perturbation_interval", 1)),
        hyperparam_mutations=lr_mutation(space),
        quantile_fraction=float(pbt.get("quantile_fraction", 0.25)),
        resample_probability=float(pbt.get("resample_probability", 0.25)),
    )
