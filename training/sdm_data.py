"""Training faces for the SDM: crops, boxes and ground truth in the descriptor's crop frame."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facealign.data import readers
from facealign.data.augment import AugmentSettings, augment
from facealign.data.real_reader import fitted_coefficients
from facealign.sdm.crops import boxes_to_crop, crop_faces
from facealign.sdm.descriptors import Descriptor
from facealign.sdm.shape_fit import ShapeBasis, project_points
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import to_crop


@dataclass
class TrainingSet:
    """Training faces in the crop frame of the descriptor.

    Attributes:
        prepared: ``descriptor.prepare`` of the (n, S, S, 3) crops.
        boxes: (n, 4) face boxes in crop pixels (where the initial estimate is placed).
        pose: (n, 6) ground-truth cameras in the crop frame.
        points: (n, L, 2) ground-truth landmark-vertex positions, crop pixels.
        crops: (n, S, S, 3) uint8 RGB crops, or None when not kept.
    """

    prepared: Any
    boxes: np.ndarray
    pose: np.ndarray
    points: np.ndarray
    crops: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.boxes)

    def split(self, n_first: int) -> tuple[TrainingSet, TrainingSet]:
        """The first ``n_first`` faces and the rest (views, no copies)."""
        def part(sl: slice) -> TrainingSet:
            crops = None if self.crops is None else self.crops[sl]
            return TrainingSet(self.prepared[sl], self.boxes[sl], self.pose[sl], self.points[sl], crops)

        return part(slice(0, n_first)), part(slice(n_first, None))


def ground_truth(records: list[readers.FaceRecord], model: MorphableModel, vertex_ids: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Image-frame poses (n, 6) and landmark-vertex positions (n, L, 2) from the 3DMM fields.

    Label coefficients beyond the model's components are dropped, missing ones are zero
    (:func:`facealign.data.real_reader.fitted_coefficients`).
    """
    pose = np.stack([readers.pose(r) for r in records])
    coeffs = np.stack([np.concatenate([fitted_coefficients(r.shape_para, model.n_id),
                                       fitted_coefficients(r.exp_para, model.n_exp)]) for r in records])
    full = ShapeBasis.from_model(model, vertex_ids, model.n_id, model.n_exp)
    return pose, project_points(pose, full.shapes(coeffs))[..., :2]


def select_records(records: list[readers.FaceRecord], count: int, rng: np.random.Generator
                   ) -> list[readers.FaceRecord]:
    """``count`` records in random order (all of them when ``count`` is 0 or too large)."""
    n = len(records) if count <= 0 else min(count, len(records))
    return [records[i] for i in rng.permutation(len(records))[:n]]


def augment_crops(crops: np.ndarray, settings: AugmentSettings, seed: int, count: int) -> None:
    """Augment the first ``count`` of the (n, S, S, 3) uint8 ``crops`` in place, crop ``i``
    with a generator seeded by ``(seed, i)`` (pixels only: the ground truth stays valid)."""
    for i in range(min(count, len(crops))):
        crops[i] = augment(crops[i], settings, np.random.default_rng((seed, i)))


def load_training_set(records: list[readers.FaceRecord], model: MorphableModel, vertex_ids: np.ndarray,
                      descriptor: Descriptor, crop_scale: float, augment: AugmentSettings | None = None,
                      n_augmented: int | None = None, seed: int = 0) -> TrainingSet:
    """Crop every record around its ground-truth landmark box and prepare the descriptors.

    With ``augment``, the crops of the first ``n_augmented`` records (None: all; the rest
    are e.g. validation faces) are augmented (:func:`augment_crops` with ``seed``) before
    the descriptors are computed; ``crops`` holds them as augmented.  Crops are (S, S, 3)
    uint8 RGB at the descriptor's ``image_size`` S (pixels, y down).
    """
    size = descriptor.image_size
    lm = np.stack([r.landmarks68 for r in records])
    boxes = np.concatenate([lm.min(1), lm.max(1)], 1)
    crops, squares = crop_faces([readers.load_image(r.image_path) for r in records], boxes, size,
                                crop_scale)
    if augment is not None and augment.active:
        augment_crops(crops, augment, seed, len(records) if n_augmented is None else int(n_augmented))
    pose, points = ground_truth(records, model, vertex_ids)
    scale = size / (squares[:, 2] - squares[:, 0])
    pose_crop = to_crop(pose, squares, size)
    points_crop = (points - squares[:, None, :2]) * scale[:, None, None]
    return TrainingSet(descriptor.prepare(crops), boxes_to_crop(boxes, squares, size), pose_crop,
                       points_crop, crops)
