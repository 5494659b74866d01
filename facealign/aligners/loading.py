"""Turn a local model specification into an aligner: ``mean-shape`` or a saved aligner directory.

A saved aligner directory holds ``aligner.json`` (:mod:`facealign.manifest`) naming its
family; each family's loader reads the rest, as data only (JSON, ``np.load(allow_pickle=False)``,
``torch.load(weights_only=True)``); a file that cannot be read is a one-line
:class:`~facealign.manifest.AlignerFileError` naming it.  Every loaded aligner carries
``content_hash``, the :func:`~facealign.manifest.aligner_hash` of the directory it was read
from (``mean-shape`` is the directory :func:`~facealign.aligners.mean_shape.copy_mean_shape_aligner`
makes of the face model file), which evaluation records in the metrics it writes.
Registry and run URIs (``models:/...``, ``runs:/...``) are resolved one layer up, by
:func:`facealign.registry.loading.load_aligner`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

from facealign.aligners.base import Aligner
from facealign.aligners.flip_average import FlipAveraged
from facealign.manifest import aligner_hash, is_aligner_dir, read_manifest


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
        from facealign.aligners.mean_shape import copy_mean_shape_aligner

        with tempfile.TemporaryDirectory(prefix="facealign-mean-shape-") as tmp:
            return load_aligner_dir(copy_mean_shape_aligner(face_model_path, Path(tmp) / "mean_shape"))
    path = Path(spec)
    if path.is_file() and is_aligner_dir(path.parent):
        path = path.parent
    return load_aligner_dir(path)


def load_aligner_dir(path: str | Path) -> Aligner:
    """The aligner saved in directory ``path``, its ``content_hash`` set (hashed before reading).

    A manifest with ``"test_time_flip": true`` gives the aligner wrapped in
    :class:`~facealign.aligners.flip_average.FlipAveraged`.
    """
    path = Path(path)
    manifest = read_manifest(path)
    digest = aligner_hash(path)
    aligner = LOADERS[manifest["family"]](path)
    aligner.content_hash = digest
    return FlipAveraged(aligner) if manifest.get("test_time_flip") else aligner
