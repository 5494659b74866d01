"""Runs left RUNNING by a killed process, closed by the next run of the same command.

A process killed with SIGKILL (or by the out-of-memory killer, or a lost machine) cannot
end its MLflow run, which then shows RUNNING forever.  Every run facealign opens names its
owner in tags: ``facealign.command`` (the run name: ``cascade``, ``train_dff``,
``fit_sift_sdm``, ``register-cascade`` ...), ``facealign.host``, ``facealign.pid`` and
``facealign.process_start`` (the process's start time in seconds since the epoch, from
``psutil``, which tells a reused pid from the owner).  The next run of the same command
closes every RUNNING run of that command whose owner process is gone from this host:
status KILLED, tag ``facealign.closed_reason`` saying why and by which run.  A run owned by
another host is left alone: its process cannot be seen from here.
"""

from __future__ import annotations

import os
import socket
from typing import Any

COMMAND_TAG = "facealign.command"
HOST_TAG = "facealign.host"
PID_TAG = "facealign.pid"
START_TAG = "facealign.process_start"
REASON_TAG = "facealign.closed_reason"


def process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (seconds since the epoch, 3 decimals), or None when
    no such process exists or ``psutil`` is missing."""
    try:
        import psutil
    except ImportError:
        return None
    try:
        return f"{psutil.Process(pid).create_time():.3f}"
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None


def owner_tags(command: str) -> dict[str, str]:
    """The tags that name this process as the owner of a run of ``command``."""
    pid = os.getpid()
    tags = {COMMAND_TAG: command, HOST_TAG: socket.gethostname(), PID_TAG: str(pid)}
    start = process_start(pid)
    if start is not None:
        tags[START_TAG] = start
    return tags


def owner_gone(tags: dict[str, str]) -> bool:
    """Whether the process named by a run's owner tags has ended (False when it may live:
    another host, no owner tags, or the pid exists and its start time cannot be compared)."""
    if tags.get(HOST_TAG) != socket.gethostname() or not str(tags.get(PID_TAG, "")).isdigit():
        return False
    pid = int(tags[PID_TAG])
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # the pid exists (another user's): compare start times
        pass
    recorded, now = tags.get(START_TAG), process_start(pid)
    return recorded is not None and now is not None and recorded != now


def close_stale_runs(client: Any, experiment_id: str, command: str, closed_by: str = "a later run",
                     keep: tuple[str, ...] = ()) -> list[str]:
    """Close (KILLED, tag ``facealign.closed_reason``) the RUNNING runs of ``command`` in the
    experiment whose owner process is gone; ``keep`` are run ids left as they are (a run about
    to be resumed).  Returns the ids closed."""
    runs = client.search_runs([experiment_id], max_results=1000, filter_string=(
        f"attributes.status = 'RUNNING' and tags.`{COMMAND_TAG}` = '{command}'"))
    closed = []
    for run in runs:
        tags = run.data.tags
        if run.info.run_id in keep or not owner_gone(tags):
            continue
        reason = (f"process {tags[PID_TAG]} on {tags[HOST_TAG]} ended without closing this run "
                  f"(killed, e.g. SIGKILL or out of memory); closed as KILLED by {closed_by} of "
                  f"{command!r}")
        client.set_tag(run.info.run_id, REASON_TAG, reason)
        client.set_terminated(run.info.run_id, status="KILLED")
        closed.append(run.info.run_id)
    return closed
