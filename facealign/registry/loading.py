"""Any model specification -> an aligner: ``mean-shape``, an aligner directory, or an MLflow URI.

The one loader the commands, the service and the sweeps use.  ``models:/name@alias``,
``models:/name/3`` and ``runs:/<id>/model`` go through the registry model
(:func:`facealign.registry.pyfunc.load_aligner_from_uri`); anything else is local
(:func:`facealign.aligners.loading.load_local_aligner`).
"""

from __future__ import annotations

from pathlib import Path

from facealign.aligners.base import Aligner
from facealign.aligners.loading import load_local_aligner

URI_PREFIXES = ("models:/", "runs:/")


def load_aligner(spec: str, face_model_path: str | Path | None = None) -> Aligner:
    """The aligner named by ``spec`` (see the module docstring)."""
    if str(spec).startswith(URI_PREFIXES):
        from facealign.registry.pyfunc import load_aligner_from_uri

        return load_aligner_from_uri(str(spec))
    return load_local_aligner(spec, face_model_path)


def aligner_directory(spec: str, download_to: str | Path) -> Path:
    """The saved aligner directory ``spec`` names: a local directory (or a file in one) as it
    is; a ``models:/`` / ``runs:/`` URI's ``aligner`` artifact downloaded under ``download_to``.

    ``mean-shape`` has no directory (it is built from the face model) and is refused.
    """
    from facealign.manifest import is_aligner_dir

    if str(spec) == "mean-shape":
        raise ValueError("mean-shape is built from the face model and has no saved directory")
    if str(spec).startswith(URI_PREFIXES):
        from facealign.registry.pyfunc import download_aligner

        return download_aligner(str(spec), download_to)
    path = Path(spec)
    if path.is_file() and is_aligner_dir(path.parent):
        return path.parent
    if not is_aligner_dir(path):
        raise FileNotFoundError(f"{path}: not a saved aligner (no aligner.json)")
    return path
