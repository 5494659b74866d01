"""The registry model: an MLflow pyfunc wrapping any saved aligner directory.

The model is logged "from code" (:mod:`facealign.registry._mlflow_model` is executed by
MLflow at load time; nothing is unpickled).  Its artifact ``aligner`` is the aligner
directory (``aligner.json`` + weights + morphable model + normalisation statistics),
loaded by :func:`facealign.aligners.loading.load_local_aligner`.

Input (one row per image), a DataFrame / dict of columns / list of row dicts:

* ``image``: encoded image bytes (jpg, png, ...; base64 in MLflow's JSON REST input), or
  an (H, W, 3) / (H, W) uint8 array when called in Python with schema enforcement off
  (``model.unwrap_python_model().predict(None, ...)``) or through :func:`load_aligner_from_uri`;
* ``box`` (optional): ``"x0,y0,x1,y1"`` in pixels; absent -> Haar detection -> whole image;
* ``name`` (optional): echoed as ``image`` in the output.

Output: one dict per row, the prediction contract (``image``, ``faces`` with ``box``,
68 ``landmarks``, ``visible``, ``pose`` in degrees) plus per face ``params``, the 3DMM
parameter vector in the image frame (or null where the family has none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from facealign.aligners.base import Aligner
from facealign.predict import predict_image, to_image

try:  # the base class only matters inside MLflow; keep this module importable without it
    from mlflow.pyfunc import PythonModel
except ImportError:  # pragma: no cover
    PythonModel = object  # type: ignore[misc,assignment]

ARTIFACT_KEY = "aligner"


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


class FaceAlignmentModel(PythonModel):
    """The pyfunc: ``load_context`` loads the aligner artifact, ``predict`` aligns rows."""

    # predict / load_context carry no type hints on purpose: MLflow would try to derive a
    # schema from them; the logged signature is explicit (see register.signature). MLflow's
    # class hook honours this attribute: no type-hint check, and no warning advising hints.
    _skip_type_hint_validation = True

    def load_context(self, context):
        from facealign.aligners.loading import load_local_aligner
        from facealign.detect import HaarFaceDetector

        self.aligner = load_local_aligner(context.artifacts[ARTIFACT_KEY])
        self.detector = HaarFaceDetector()

    def predict(self, context, model_input, params=None):
        return predict_rows(self.aligner, _rows(model_input), self.detector)


def load_aligner_from_uri(uri: str) -> Aligner:
    """The aligner inside a registry / run model (``models:/face-alignment@champion``,
    ``models:/face-alignment/3``, ``runs:/<id>/model``), through MLflow's loader.

    MLflow's tracking / registry URI is whatever is configured (``MLFLOW_TRACKING_URI``,
    ``mlflow.set_tracking_uri``, else ``sqlite:///mlflow.db`` in the working directory).
    """
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(uri)
    wrapped = model.unwrap_python_model()
    if not isinstance(wrapped, FaceAlignmentModel):
        raise ValueError(f"{uri}: not a facealign model (found {type(wrapped).__name__})")
    return wrapped.aligner
