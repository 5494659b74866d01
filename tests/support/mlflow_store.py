"""An empty, migrated MLflow sqlite store in a few milliseconds.

Creating a store runs MLflow's database migrations (tens of seconds on a loaded machine);
tests copy one migrated database instead, as a new project's ``mlflow.db`` would be.
"""

from __future__ import annotations

import shutil
from pathlib import Path

_TEMPLATE: dict[str, Path] = {}


def empty_store(target: Path, scratch: Path) -> Path:
    """Copy an empty migrated ``mlflow.db`` to ``target``; the template is built once per
    process under ``scratch`` (a session temp dir)."""
    if "db" not in _TEMPLATE:
        from mlflow import MlflowClient

        template = scratch / "template-mlflow.db"
        MlflowClient(f"sqlite:///{template}").search_experiments()  # creates and migrates the tables
        _TEMPLATE["db"] = template
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(_TEMPLATE["db"], target)
    return target
