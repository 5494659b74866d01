"""Registry versions, one per content: find, create (or reuse) a version by its ``aligner_hash``.

Two writers that register the same content at once (two ``facealign promote`` runs, or a
training run and a promotion) must end with one version.  On one machine a file lock
serialises find-or-create per store and registered model, so the second writer finds the
first one's version and logs nothing.  Writers on different machines (a shared tracking
server) cannot share that lock; after creating a version each writer therefore looks again,
and the one whose version is not the oldest with that hash deletes its own and answers the
oldest: versions are numbered in creation order, so the later writer always sees the
earlier one and exactly one version survives.

:func:`registration_run` is the MLflow run a registration without a training run logs
its model into (``register-<family>``).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

HASH_TAG = "aligner_hash"
LOCK_TIMEOUT_S = 900.0  # a writer holds it while it logs a model (seconds, a few MB of copying)


def _store_key(tracking_uri: str) -> str:
    """The store's identity: a sqlite URI by its absolute file (relative URIs differ by checkout)."""
    from facealign.artifact_store import sqlite_file

    path = sqlite_file(tracking_uri)
    return str(path.resolve()) if path is not None else tracking_uri


@contextmanager
def registration_lock(tracking_uri: str, name: str) -> Iterator[None]:
    """Serialise find-or-create of versions of ``name`` among this machine's processes."""
    from filelock import FileLock

    key = hashlib.md5(f"{_store_key(tracking_uri)}|{name}".encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"facealign-register-{key}.lock"
    with FileLock(str(path), timeout=LOCK_TIMEOUT_S):
        yield


def versions_with_hash(client: Any, name: str, digest: str) -> list[Any]:
    """The versions of ``name`` whose ``aligner_hash`` tag is ``digest``, oldest first."""
    found = client.search_model_versions(f"name = '{name}' and tags.{HASH_TAG} = '{digest}'")
    return sorted(found, key=lambda v: int(v.version))


def find_version(client: Any, name: str, digest: str) -> Any | None:
    """The oldest version of ``name`` with content hash ``digest`` (the one that survives
    concurrent registrations), if any."""
    found = versions_with_hash(client, name, digest)
    return found[0] if found else None


def create_version(client: Any, name: str, model_uri: str, digest: str,
                   tags: dict[str, str]) -> tuple[str, bool]:
    """Register ``model_uri`` as a version of ``name`` tagged ``tags`` (``aligner_hash`` =
    ``digest`` included); when another writer registered the same hash first, delete ours.

    Returns:
        (the version that holds the content, whether it is the one created here).
    """
    import mlflow

    created = str(mlflow.register_model(model_uri, name, tags={**tags, HASH_TAG: digest}).version)
    oldest = str(find_version(client, name, digest).version)
    if oldest != created:
        client.delete_model_version(name, created)
        return oldest, False
    return created, True


def ensure_version(client: Any, tracking_uri: str, name: str, digest: str,
                   log_model: Callable[[], tuple[str, dict[str, str]]]) -> tuple[str, bool]:
    """The version of ``name`` holding content ``digest``: the existing one, else the one
    registered from ``log_model()`` (which logs the model and returns its URI and the version
    tags; it is called only when no version exists).

    Returns:
        (version, whether it was created now).
    """
    with registration_lock(tracking_uri, name):
        existing = find_version(client, name, digest)
        if existing is not None:
            return str(existing.version), False
        model_uri, tags = log_model()
        return create_version(client, name, model_uri, digest, tags)


@contextmanager
def registration_run(client: Any, experiment_id: str, run_id: str | None, family: str,
                      digest: str) -> Iterator[Any]:
    """The run a registration logs into: ``run_id`` (reused when it is the active run), else
    a new ``register-<family>`` run that names its owner process (see :mod:`facealign.stale_runs`)."""
    import mlflow

    from facealign import stale_runs, tracking

    active = mlflow.active_run()
    if active is not None and active.info.run_id == run_id:
        yield active  # the caller's run is already open
        return
    if run_id:
        with mlflow.start_run(run_id=run_id, nested=active is not None) as run:
            yield run
        return
    command, commit = f"register-{family}", tracking.git_commit()
    tags = {"family": family, "git_commit": commit, tracking.GIT_COMMIT_TAG: commit, "aligner_hash": digest,
            **stale_runs.owner_tags(command)}
    with mlflow.start_run(experiment_id=experiment_id, run_name=command, tags=tags, nested=active is not None,
                          description=f"registration of a {family} aligner without a training run") as run:
        stale_runs.close_stale_runs(client, experiment_id, command, closed_by=f"run {run.info.run_id}")
        yield run
