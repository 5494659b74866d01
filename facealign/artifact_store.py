"""``facealign-store:`` artifact URIs: artefacts that move with the project's MLflow database.

MLflow stores absolute artefact locations (``/home/me/facealign/mlruns/1/<run>/artifacts``)
in ``mlflow.db``, so a copied checkout would write into, and read from, the original's
``mlruns/``.  Experiments that :func:`facealign.tracking.ensure_experiment` creates in the
project's default store (a sqlite URI with a relative path, ``sqlite:///mlflow.db``) get the
location ``facealign-store:/mlruns/<experiment>`` instead: a path relative to the directory
of the sqlite database MLflow is working with.  Runs, logged models and registry versions
inherit it (MLflow appends to the experiment's location), so ``mlflow.db`` plus ``mlruns/``
form one relocatable store.

:class:`ProjectArtifactRepository` resolves those URIs; MLflow finds it through the
``mlflow.artifact_repository`` entry point of this package (``pyproject.toml``), so
``mlflow ui``, ``mlflow models serve`` and every MLflow client in the environment read the
store too.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlparse

from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

SCHEME = "facealign-store"
ARTIFACT_DIR = "mlruns"  # beside the database, as MLflow's own default
SERVER_STORE_ENV = "_MLFLOW_SERVER_FILE_STORE"  # the backend store an `mlflow server` / `ui` serves


def sqlite_file(uri: str | None) -> Path | None:
    """The database file of a ``sqlite:///`` URI (relative paths stay relative), else None."""
    if not uri or not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


def is_project_store(uri: str) -> bool:
    """Whether ``uri`` names a store relative to the project: ``sqlite:///<relative path>``."""
    path = sqlite_file(uri)
    return path is not None and not path.is_absolute()


def store_root(tracking_uri: str | None = None) -> Path:
    """The directory that ``facealign-store:`` paths are relative to: the directory of the
    sqlite database of ``tracking_uri`` (else of the store an MLflow server serves, else
    of MLflow's current tracking URI), or the working directory."""
    candidates = [tracking_uri, os.environ.get(SERVER_STORE_ENV)]
    if tracking_uri is None:
        import mlflow

        candidates.append(mlflow.get_tracking_uri())
    for uri in candidates:
        path = sqlite_file(uri)
        if path is not None:
            return path.resolve().parent
    return Path.cwd()


def experiment_location(tracking_uri: str, name: str) -> str | None:
    """The artefact location of a new experiment ``name`` in the store ``tracking_uri``:
    ``facealign-store:/mlruns/<name>`` in a project store, ``<database dir>/mlruns/<name>``
    (absolute) beside any other sqlite database, None (the server's default) elsewhere."""
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in name) or "experiment"
    if is_project_store(tracking_uri):
        return f"{SCHEME}:/{ARTIFACT_DIR}/{safe}"
    path = sqlite_file(tracking_uri)
    return None if path is None else (path.parent / ARTIFACT_DIR / safe).as_uri()


def local_path(uri: str, tracking_uri: str | None = None) -> Path:
    """The absolute local path of a ``facealign-store:/relative/path`` URI."""
    parsed = urlparse(uri)
    if parsed.scheme != SCHEME:
        raise ValueError(f"{uri}: not a {SCHEME}: URI")
    return store_root(tracking_uri) / parsed.path.lstrip("/")


class ProjectArtifactRepository(LocalArtifactRepository):
    """MLflow's local artefact repository on the path a ``facealign-store:`` URI names."""

    def __init__(self, artifact_uri: str, tracking_uri: str | None = None,
                 registry_uri: str | None = None) -> None:
        super().__init__(str(local_path(artifact_uri, tracking_uri)), tracking_uri, registry_uri)
