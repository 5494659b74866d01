"""Turn a model specification into an aligner.

A specification is ``mean-shape``, a trained aligner's directory (it holds
``aligner.json`` naming its family) or an MLflow URI (``models:/name@alias``,
``models:/name/3``, ``runs:/<id>/model``).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from facealign.aligners.base import Aligner
from facegeom.morphable_model import MorphableModel

# family -> "module:callable" taking the aligner directory; imported only when used.
FAMILIES: dict[str, str] = {
    "mean_shape": "facealign.aligners.mean_shape:load_mean_shape_aligner",
    "cascade": "facealign.aligners.cascade:load_cascade_aligner",
    "dff_sdm": "facealign.aligners.sdm:load_sdm_aligner",
    "sift_sdm": "facealign.aligners.sdm:load_sdm_aligner",
}
MANIFEST = "aligner.json"


def read_manifest(directory: str | Path) -> dict:
    """The ``aligner.json`` of a saved aligner directory; errors name the file."""
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a saved aligner (no {MANIFEST})")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if manifest.get("family") not in FAMILIES:
        raise ValueError(f"{path}: field 'family' must be one of {sorted(FAMILIES)}")
    return manifest


def load_aligner(spec: str, face_model_path: str | Path | None = None) -> Aligner:
    """The aligner named by ``spec`` (see the module docstring)."""
    if spec == "mean-shape":
        if face_model_path is None:
            raise ValueError("mean-shape needs a face model path")
        from facealign.aligners.mean_shape import MeanShapeAligner

        return MeanShapeAligner(MorphableModel.load(face_model_path))
    if spec.startswith(("models:/", "runs:/")):
        from facealign.registry.pyfunc import load_aligner_from_uri

        return load_aligner_from_uri(spec)
    path = Path(spec)
    if path.is_file() and path.parent.joinpath(MANIFEST).is_file():
        path = path.parent  # a checkpoint file inside an aligner directory
    family = read_manifest(path)["family"]
    module_name, func = FAMILIES[family].split(":")
    return getattr(importlib.import_module(module_name), func)(path)
