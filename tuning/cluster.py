"""Connecting to Ray and fitting trials to the resources the cluster has.

``--address`` (or ``RAY_ADDRESS``) joins an existing cluster; otherwise a local Ray starts
with this machine's cores.  A one-worker trial asks Tune for ``cpus_per_trial`` CPUs and
``gpus_per_trial`` GPUs, so Tune runs as many trials at once as fit.  A data-parallel trial
only drives a Ray Train job (whose workers hold the resources), so Tune would otherwise
start every trial at once: its concurrency is capped at the number of trials whose
workers fit in the cluster.
"""

from __future__ import annotations

import math
import os
from typing import Any

from tuning.settings import DRIVER_CPU_SHARE, SweepSettings


class ClusterError(RuntimeError):
    """The cluster cannot run a single trial; the message says what is missing."""


AUTH_HINT = ("; a cluster started with `ray start` uses token authentication: export RAY_AUTH_MODE=token, "
             "with the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN")


def connect(settings: SweepSettings) -> bool:
    """Start or join Ray unless it is already up; returns True when this call started it.

    Raises:
        ClusterError: the cluster at ``settings.address`` cannot be joined.
    """
    import ray

    if ray.is_initialized():
        return False
    try:
        ray.init(address=settings.address or None, include_dashboard=False,
                 log_to_driver=True, configure_logging=True, logging_level="WARNING")
    except ConnectionError as exc:
        hint = AUTH_HINT if os.environ.get("RAY_AUTH_MODE") != "token" else ""
        raise ClusterError(f"cannot join the Ray cluster at {settings.address}: {exc}{hint}") from exc
    return True


def trial_resources(settings: SweepSettings) -> dict[str, float]:
    """What Tune reserves for one trial (see the module docstring)."""
    if settings.workers_per_trial > 1:
        return {"cpu": DRIVER_CPU_SHARE}
    return {"cpu": settings.cpus_per_trial, "gpu": settings.gpus_per_trial}


def trials_that_fit(settings: SweepSettings, cluster: dict[str, float]) -> int:
    """How many whole trials the cluster's logical CPUs and GPUs hold at once."""
    fits = math.floor(cluster.get("CPU", 0.0) / settings.cpus_per_trial + 1e-9)
    if settings.gpus_per_trial:
        fits = min(fits, math.floor(cluster.get("GPU", 0.0) / settings.gpus_per_trial + 1e-9))
    return fits


def max_concurrent_trials(settings: SweepSettings, cluster: dict[str, float] | None = None) -> int | None:
    """The concurrency cap passed to Tune (None: Tune follows the trials' resources).

    Raises:
        ClusterError: a local cluster cannot hold even one trial (a remote cluster may
            autoscale, so there it is left to Ray).
    """
    if cluster is None:
        import ray

        cluster = ray.cluster_resources()
    fits = trials_that_fit(settings, cluster)
    if fits < 1:
        need = f"{settings.cpus_per_trial:g} CPUs" + (
            f" and {settings.gpus_per_trial:g} GPUs" if settings.gpus_per_trial else "")
        have = f"{cluster.get('CPU', 0):g} CPUs and {cluster.get('GPU', 0):g} GPUs"
        if not settings.address:
            raise ClusterError(f"a trial needs {need} but this Ray cluster has {have}; "
                               "lower --cpus-per-trial / --gpus-per-trial or join a larger cluster")
        print(f"sweep: a trial needs {need}, the cluster has {have} now; waiting for it to scale up")
        return settings.max_concurrent_trials or 1
    if settings.max_concurrent_trials:
        return int(settings.max_concurrent_trials)
    return fits if settings.workers_per_trial > 1 else None


def describe(settings: SweepSettings, cluster: dict[str, Any]) -> str:
    """One line on where the sweep runs and how trials share the cluster."""
    where = settings.address or "a local Ray"
    per = f"{settings.cpus_per_trial:g} CPU"
    if settings.gpus_per_trial:
        per += f", {settings.gpus_per_trial:g} GPU"
    workers = (f" as {settings.workers_per_trial} DDP workers" if settings.workers_per_trial > 1 else "")
    return (f"sweep: {where} with {cluster.get('CPU', 0):g} CPUs, {cluster.get('GPU', 0):g} GPUs; "
            f"{per} per trial{workers}; up to {trials_that_fit(settings, cluster)} trials at once")
