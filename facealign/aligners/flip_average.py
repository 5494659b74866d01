"""Test-time flip averaging: align each face and its mirror image, average the two answers.

Any aligner of :class:`facealign.aligners.base.Aligner` can be wrapped.  The mirror pass sees
the image flipped left-right (``x -> W - 1 - x`` in 0-based pixels) with its box flipped the
same way; its 68 landmarks are flipped back and renumbered with :data:`MIRROR_68` (the left
eye of the mirror image is the right eye of the face), then averaged with the direct pass.

A saved aligner whose manifest says ``"test_time_flip": true`` is loaded wrapped (see
:func:`facealign.aligners.loading.load_local_aligner`).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from facealign.aligners.base import Aligner, Alignment

MIRROR_68: np.ndarray = np.array(
    [*range(16, -1, -1),                      # jaw 0-16 reversed
     *range(26, 16, -1),                      # brows 17-21 <-> 26-22
     27, 28, 29, 30,                          # nose bridge stays
     35, 34, 33, 32, 31,                      # nostrils reversed
     45, 44, 43, 42, 47, 46,                  # right eye -> left eye (corners and lids)
     39, 38, 37, 36, 41, 40,                  # left eye -> right eye
     54, 53, 52, 51, 50, 49, 48,              # outer upper lip reversed
     59, 58, 57, 56, 55,                      # outer lower lip reversed
     64, 63, 62, 61, 60,                      # inner upper lip reversed
     67, 66, 65],                             # inner lower lip reversed
    dtype=np.int64)
"""(68,) iBUG-68 index of each point's mirror partner: point ``i`` of a face is point
``MIRROR_68[i]`` of its mirror image (an involution)."""


def mirror_boxes(boxes: np.ndarray, widths: np.ndarray) -> np.ndarray:
    """(B, 4) boxes ``(x0, y0, x1, y1)`` -> the same boxes in the left-right flipped images.

    Args:
        boxes: (B, 4) pixels.
        widths: (B,) image widths, pixels.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    right = np.asarray(widths, np.float64) - 1.0
    return np.stack([right - boxes[:, 2], boxes[:, 1], right - boxes[:, 0], boxes[:, 3]], axis=1)


def mirror_landmarks(points: np.ndarray, width: float) -> np.ndarray:
    """(68, 2) landmarks found in a flipped image -> the same face's landmarks in the original."""
    out = np.asarray(points, np.float64)[MIRROR_68].copy()
    out[:, 0] = width - 1.0 - out[:, 0]
    return out


class FlipAveraged:
    """An aligner answering the mean of ``inner`` on each image and on its mirror image.

    Landmarks (pixels) and pitch are averaged directly; yaw and roll change sign under the
    mirror and are averaged after undoing it (degrees).  Visibility, parameters and any dense
    outputs (mesh, PNCC) are the direct pass's: the mirror of a 3DMM fit is not a fit of the
    same model's coefficients.  Costs one batched call of ``inner`` on 2B images.
    """

    def __init__(self, inner: Aligner) -> None:
        self.inner = inner
        self.name = inner.name
        self.content_hash: str | None = getattr(inner, "content_hash", None)

    def align(self, images: list[np.ndarray], boxes: np.ndarray, **kwargs) -> list[Alignment]:
        """See :meth:`facealign.aligners.base.Aligner.align`; extra keywords go to ``inner``."""
        if len(images) == 0:
            return []
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        flipped, flipped_boxes = mirror_inputs(images, boxes)
        both = self.inner.align([*images, *flipped], np.concatenate([boxes, flipped_boxes]), **kwargs)
        return average_with_mirror(both[:len(images)], both[len(images):], images)


def mirror_inputs(images: list[np.ndarray], boxes: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The left-right flipped images and their (B, 4) boxes (see :func:`mirror_boxes`)."""
    widths = np.array([im.shape[1] for im in images], np.float64)
    return [np.ascontiguousarray(im[:, ::-1]) for im in images], mirror_boxes(boxes, widths)


def average_with_mirror(direct: list[Alignment], mirrored: list[Alignment],
                        images: list[np.ndarray]) -> list[Alignment]:
    """Each direct answer averaged with the answer on its mirror image (see :class:`FlipAveraged`)."""
    out = []
    for a, m, image in zip(direct, mirrored, images, strict=True):
        points = 0.5 * (a.landmarks + mirror_landmarks(m.landmarks, float(image.shape[1])))
        out.append(replace(a, landmarks=points.astype(np.float32), yaw=0.5 * (a.yaw - m.yaw),
                           pitch=0.5 * (a.pitch + m.pitch), roll=0.5 * (a.roll - m.roll)))
    return out
