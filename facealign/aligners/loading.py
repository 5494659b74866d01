"""Turn a local model specification into an aligner: ``mean-shape`` or a saved aligner directory.

A saved aligner directory holds ``aligner.json`` (:mod:`facealign.manifest`) naming its
family; each family's loader reads the rest.  Registry and run URIs (``models:/...``,
``runs:/...``) are resolved one layer up, by :func:`facealign.registry.loading.load_aligner`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from facealign.aligners.base import Aligner
from facealign.manifest import is_aligner_dir, read_manifest
from facegeom.morphable_model import MorphableModel


def _load_mean_shape(path: Path) -> Aligner:
    from facealign.aligners.mean_shape import load_mean_shape_aligner

    return load_mean_shape_aligner(path)


def _load_cascade(path: Path) -> Aligner:
    from facealign.aligners.cascade import load_cascade_aligner  # torch: imported only when used

    return load_cascade_aligner(path)


def _load_sdm(path: Path) -> Aligner:
    from facealign.aligners.sdm import load_sdm_aligner

    return load_sdm_aligner(path)


def _load_cascade_onnx(path: Path) -> Aligner:
    from facealign.aligners.onnx_aligners import load_cascade_onnx  # onnxruntime: imported only when used

    return load_cascade_onnx(path)


LOADERS: dict[str, Callable[[Path], Aligner]] = {
    "mean_shape": _load_mean_shape,
    "cascade": _load_cascade,
    "dff_sdm": _load_sdm,
    "sift_sdm": _load_sdm,
    "cascade_onnx": _load_cascade_onnx,
    "dff_sdm_onnx": _load_sdm,
}


def load_local_aligner(spec: str | Path, face_model_path: str | Path | None = None) -> Aligner:
    """The aligner ``spec`` names: ``mean-shape`` (needs ``face_model_path``) or an aligner directory.

    A file inside an aligner directory (a checkpoint, say) stands for its directory.
    """
    if str(spec) == "mean-shape":
        if face_model_path is None:
            raise ValueError("mean-shape needs a face model path")
        from facealign.aligners.mean_shape import MeanShapeAligner

        return MeanShapeAligner(MorphableModel.load(face_model_path))
    path = Path(spec)
    if path.is_file() and is_aligner_dir(path.parent):
        path = path.parent
    family = read_manifest(path)["family"]
    return LOADERS[family](path)
