"""The registry model: an MLflow pyfunc over a saved aligner directory, loaded by package code.

A version's artefacts carry **data only**: the aligner directory (``aligner.json``, weights,
morphable model, normalisation statistics) as the model's ``data/aligner``.  Its ``MLmodel``
names this module as the pyfunc ``loader_module``, so ``mlflow.pyfunc.load_model`` and
``mlflow models serve`` import the *installed* ``facealign`` (a requirement of the model) and
call :func:`_load_pyfunc`; no Python file stored among the artefacts is executed.
:func:`load_aligner_from_uri` (the path ``facealign predict``, ``serve`` and ``promote`` use)
does not even go through MLflow's loader: it downloads the version's files, finds the aligner
directory from the ``MLmodel`` YAML (``yaml.safe_load``) and reads it with
:func:`facealign.aligners.loading.load_local_aligner` (``torch.load(weights_only=True)``,
``np.load(allow_pickle=False)``, JSON).  Versions logged by earlier releases "from code"
(``artifacts/aligner`` beside a ``_mlflow_model.py``) load the same way, their code ignored.

Input (one row per image), a DataFrame / dict of columns / list of row dicts:

* ``image``: encoded image bytes (jpg, png, ...; base64 in MLflow's JSON REST input), or
  an (H, W, 3) / (H, W) uint8 array when called in Python with schema enforcement off
  (``model.get_raw_model().predict({"image": [array]})``) or through :func:`load_aligner_from_uri`;
* ``box`` (optional): ``"x0,y0,x1,y1"`` in pixels; absent -> Haar detection -> whole image;
* ``name`` (optional): echoed as ``image`` in the output.

Output: one dict per row, the prediction contract (``image``, ``faces`` with ``box``,
68 ``landmarks``, ``visible``, ``pose`` in degrees) plus per face ``params``, the 3DMM
parameter vector in the image frame (or null where the family has none).
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from facealign.aligners.base import Aligner
from facealign.manifest import is_aligner_dir
from facealign.predict import predict_image, to_image

LOADER_MODULE = "facealign.registry.pyfunc"  # the pyfunc loader_module of every logged model
DATA_NAME = "aligner"  # the aligner directory's name in the model (MLflow puts it under data/)
LEGACY_KEY = "aligner"  # the artifact key of models logged "from code" by earlier releases
LEGACY_DIR = Path("artifacts") / "aligner"  # where they kept it


def _rows(model_input: Any) -> list[dict]:
    """Normalise the accepted input forms to a list of ``{"image", "box", "name"}`` dicts."""
    if isinstance(model_input, np.ndarray) and model_input.dtype == np.uint8 and model_input.ndim in (2, 3):
        return [{"image": model_input}]
    if isinstance(model_input, bytes | bytearray):
        return [{"image": bytes(model_input)}]
    if hasattr(model_input, "to_dict") and hasattr(model_input, "columns"):  # pandas DataFrame
        return model_input.to_dict(orient="records")
    if isinstance(model_input, dict):
        columns = {k: (v if isinstance(v, list | tuple) else [v]) for k, v in model_input.items()}
        n = len(columns.get("image", []))
        return [{k: v[i] if i < len(v) else None for k, v in columns.items()} for i in range(n)]
    if isinstance(model_input, list | tuple):
        return [r if isinstance(r, dict) else {"image": r} for r in model_input]
    raise ValueError(f"unsupported model input of type {type(model_input).__name__}")


def _missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def predict_rows(aligner: Aligner, rows: list[dict], detector: Any = None,
                 max_pixels: int = 50_000_000) -> list[dict]:
    """Align every row (see the module docstring) through :func:`facealign.predict.predict_image`."""
    out = []
    for i, row in enumerate(rows):
        value = row.get("image")
        if not isinstance(value, np.ndarray) and _missing(value):
            raise ValueError(f"row {i}: field 'image' is missing")
        box = row.get("box")
        given = [box] if isinstance(box, list | tuple | np.ndarray) or not _missing(box) else None
        name = str(i) if _missing(row.get("name")) else str(row.get("name"))
        image = to_image(value, max_pixels)
        entry, _ = predict_image(aligner, image, name, given, detector, with_params=True)
        out.append(entry)
    return out


class AlignerPyfunc:
    """What MLflow's pyfunc wraps (``model.get_raw_model()``): an aligner and a face detector."""

    def __init__(self, aligner: Aligner, detector: Any = None) -> None:
        self.aligner, self.detector = aligner, detector

    def predict(self, model_input: Any, params: dict | None = None) -> list[dict]:
        """One prediction-contract dict per input row (``params`` is unused)."""
        return predict_rows(self.aligner, _rows(model_input), self.detector)

    def get_raw_model(self) -> AlignerPyfunc:
        """MLflow's ``PyFuncModel.get_raw_model()`` hook: this object (``.aligner`` inside)."""
        return self


def _load_pyfunc(data_path: str) -> AlignerPyfunc:
    """MLflow's ``loader_module`` entry: the model's ``data/aligner`` directory -> the pyfunc."""
    from facealign.aligners.loading import load_local_aligner
    from facealign.detect import HaarFaceDetector

    return AlignerPyfunc(load_local_aligner(data_path), HaarFaceDetector())


def aligner_dir_of(model_dir: str | Path, uri: str | None = None) -> Path:
    """The aligner directory inside a downloaded model directory (``MLmodel`` beside it).

    New models name it as the pyfunc ``data`` of :data:`LOADER_MODULE`; models logged "from
    code" by earlier releases hold it as their artifact ``aligner`` (``artifacts/aligner``).
    Raises ValueError (naming ``uri``) when it is neither, or when the path leaves the model.
    """
    model_dir = Path(model_dir)
    where = uri or str(model_dir)
    meta_path = model_dir / "MLmodel"
    try:
        meta = yaml.safe_load(meta_path.read_text()) if meta_path.is_file() else {}
    except yaml.YAMLError as exc:
        raise ValueError(f"{where}: MLmodel is not valid YAML ({exc})") from exc
    flavor = ((meta or {}).get("flavors") or {}).get("python_function") or {}
    if flavor.get("loader_module") == LOADER_MODULE and flavor.get("data"):
        relative = str(flavor["data"])
    else:  # from code: the artifact "aligner" (artifacts/aligner as earlier releases logged it)
        artifact = ((flavor.get("artifacts") or {}).get(LEGACY_KEY) or {}).get("path")
        relative = str(artifact or LEGACY_DIR)
    found = model_dir / relative
    if not found.resolve().is_relative_to(model_dir.resolve()):
        raise ValueError(f"{where}: MLmodel's aligner path {relative!r} leaves the model directory")
    if not is_aligner_dir(found):
        raise ValueError(f"{where}: not a facealign model (no aligner directory among its artifacts)")
    return found


def load_aligner_from_uri(uri: str) -> Aligner:
    """The aligner inside a registry / run model (``models:/face-alignment@champion``,
    ``models:/face-alignment/3``, ``runs:/<id>/model``), read as data by the installed code.

    An alias is resolved once and the pinned version downloaded.  MLflow's tracking /
    registry URI is whatever is configured (``MLFLOW_TRACKING_URI``,
    ``mlflow.set_tracking_uri``, else ``sqlite:///mlflow.db`` in the working directory).

    Raises:
        ValueError: an unknown model, alias, version or run (one line naming it and the
            registry), or a model that is not a facealign model.
    """
    from facealign.aligners.loading import load_local_aligner

    with tempfile.TemporaryDirectory(prefix="facealign-model-") as tmp:
        return load_local_aligner(download_aligner(uri, tmp))


def download_aligner(uri: str, dst_path: str | Path) -> Path:
    """The aligner directory of a registry / run model (see :func:`load_aligner_from_uri`),
    downloaded under ``dst_path``.

    Raises:
        ValueError: as :func:`load_aligner_from_uri`.
    """
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    from facealign.registry.info import resolve, store_uri

    source = resolve(uri).pinned if uri.startswith("models:/") else uri
    try:
        local = mlflow.artifacts.download_artifacts(artifact_uri=source, dst_path=str(dst_path))
    except MlflowException as exc:
        lines = str(exc.message).strip().splitlines() or [type(exc).__name__]
        raise ValueError(f"{uri}: cannot be downloaded from {store_uri()} ({lines[0]})") from exc
    return Path(aligner_dir_of(local, uri))
