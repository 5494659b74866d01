"""The mean-shape baseline: the model's mean face, frontal, placed by the face box.

It is the first row of every comparison: any trained aligner must beat it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from facealign.aligners.base import Alignment
from facealign.manifest import read_file, write_manifest
from facegeom.morphable_model import MorphableModel


class MeanShapeAligner:
    """Places the frontal mean landmarks so that their bounding box matches the face box.

    The scale is uniform (the geometric mean of the box's width and height ratios) and the
    landmark box centre goes to the face box centre.
    """

    name = "mean-shape"
    content_hash: str | None = None  # of the directory it was loaded from (aligners.loading)

    def __init__(self, model: MorphableModel) -> None:
        mean_lm = model.mean[model.landmarks]
        # Frontal weak perspective with f = 1: image x = X, image y = -Y (y down).
        self._template = np.stack([mean_lm[:, 0], -mean_lm[:, 1]], axis=1).astype(np.float64)
        lo, hi = self._template.min(0), self._template.max(0)
        self._centre = (lo + hi) / 2
        self._size = np.sqrt(np.prod(hi - lo))
        self._n_params = 6 + model.n_id + model.n_exp

    def align(self, images: list[np.ndarray], boxes: np.ndarray) -> list[Alignment]:
        """See :class:`facealign.aligners.base.Aligner`; images are only counted."""
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if len(images) != len(boxes):
            raise ValueError(f"got {len(images)} images but {len(boxes)} boxes")
        out = []
        for box in boxes:
            size = np.sqrt(max(box[2] - box[0], 1e-6) * max(box[3] - box[1], 1e-6))
            scale = size / self._size
            centre = np.array([(box[0] + box[2]) / 2, (box[1] + box[3]) / 2])
            landmarks = (self._template - self._centre) * scale + centre
            tx, ty = centre - self._centre * scale
            params = np.zeros(self._n_params, np.float32)
            params[[0, 4, 5]] = scale, tx, ty
            out.append(Alignment(
                landmarks=landmarks.astype(np.float32), visible=np.ones(68, bool),
                yaw=0.0, pitch=0.0, roll=0.0, box=box.astype(np.float32), params=params,
            ))
        return out


def save_mean_shape_aligner(model: MorphableModel, directory: str | Path) -> Path:
    """Save the baseline as an aligner directory (``aligner.json`` + ``face_model.npz``).

    A saved baseline goes through the same loading, registry and serving paths as the
    trained families, which makes it the cheapest end-to-end test subject.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    model.save(directory / "face_model.npz")
    write_manifest(directory, {"family": "mean_shape"})
    return directory


def copy_mean_shape_aligner(face_model_path: str | Path, directory: str | Path) -> Path:
    """The baseline of the face model file ``face_model_path`` as an aligner directory: the
    file copied byte for byte (so the directory's content hash is a function of the file,
    unlike a re-saved ``.npz`` that records the time of writing) beside ``aligner.json``."""
    source = Path(face_model_path)
    if not source.is_file():
        raise FileNotFoundError(f"{source}: face model not found (run `dvc repro build_face_model`)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, directory / "face_model.npz")
    write_manifest(directory, {"family": "mean_shape"})
    return directory


def load_mean_shape_aligner(directory: str | Path) -> MeanShapeAligner:
    """Inverse of :func:`save_mean_shape_aligner`."""
    return MeanShapeAligner(read_file(Path(directory) / "face_model.npz", MorphableModel.load, "face model"))
