"""What the appearance effects know about one render, and how they paint.

All image coordinates are pixels of the supersampled canvas: x right, y down, pixel
``(row i, col j)`` centred at ``(x=j, y=i)``; depth larger = nearer the camera.  Model
space is millimetres, x to the image right of a frontal face, y up, z towards the camera.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facealign.data.appearance_settings import EFFECTS, AppearanceSettings
from facegeom.camera import project, rotation_matrix
from facegeom.morphable_model import MorphableModel


class Look:
    """Which effects one sample gets, and a separate random stream for each of them.

    Args:
        settings: the effect probabilities.
        seed: the sample's seed sequence (e.g. ``[seed, split, index]``).
    """

    def __init__(self, settings: AppearanceSettings, seed: list[int]) -> None:
        dice = np.random.default_rng([*seed, 7, 0]).uniform(size=len(EFFECTS))
        self.settings = settings
        self.on = {name: bool(dice[k] < getattr(settings, name)) for k, name in enumerate(EFFECTS)}
        self._seed = list(seed)
        self.cache: dict = {}

    def rng(self, effect: str) -> np.random.Generator:
        """The effect's own generator (independent of which other effects are on)."""
        return np.random.default_rng([*self._seed, 7, 1 + EFFECTS.index(effect)])


@dataclass
class Scene:
    """The geometry of one render on its supersampled canvas.

    Attributes:
        model: the morphable model.
        shape: (N, 3) model-space vertices of this face (mm).
        pose: (6,) ``(f, pitch, yaw, roll, tx, ty)`` mapping model space to the canvas.
        verts: (N, 3) canvas vertices (``project(pose, shape)``).
        depth: (H, W) z-buffer depth, -inf off the face.
        mask: (H, W) bool, True on the face mesh.
        visible: (N,) bool vertex visibility.
        skin: (3,) typical skin albedo, RGB in [0, 1].
        light: overall brightness of the face light (ambient + typical diffuse).
    """

    model: MorphableModel
    shape: np.ndarray
    pose: np.ndarray
    verts: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    visible: np.ndarray
    skin: np.ndarray
    light: float

    @property
    def side(self) -> int:
        return int(self.mask.shape[0])

    @property
    def mm(self) -> float:
        """Canvas pixels per model millimetre."""
        return float(self.pose[0])

    def project(self, points: np.ndarray) -> np.ndarray:
        """(M, 3) model-space points -> (M, 3) canvas points."""
        return project(self.pose, np.asarray(points, np.float64))

    def rotation(self) -> np.ndarray:
        return rotation_matrix(*self.pose[1:4])

    def landmarks(self, ids) -> tuple[np.ndarray, np.ndarray]:
        """(k, 2) canvas points of landmarks ``ids`` and their (k,) visibility."""
        v = self.model.landmarks[list(ids)]
        return self.verts[v, :2].astype(np.float64), self.visible[v]

    def in_front(self, points: np.ndarray, tolerance_mm: float = 4.0) -> np.ndarray:
        """(M,) bool: canvas points (M, 3) not hidden by the face mesh."""
        xy = np.clip(np.round(points[:, :2]).astype(int), 0, self.side - 1)
        return points[:, 2] >= self.depth[xy[:, 1], xy[:, 0]] - tolerance_mm * self.mm


def blank(scene: Scene) -> np.ndarray:
    """A (H, W) uint8 drawing mask."""
    return np.zeros(scene.mask.shape, np.uint8)


def pts(points: np.ndarray) -> np.ndarray:
    """Canvas points (M, >=2) as the int32 (M, 1, 2) array cv2 draws with."""
    return np.round(np.asarray(points)[:, :2]).astype(np.int32).reshape(-1, 1, 2)


def hull(points: np.ndarray) -> np.ndarray:
    """Convex hull of canvas points, for ``cv2.fillPoly``."""
    return cv2.convexHull(pts(points))


def paint(image: np.ndarray, mask: np.ndarray, colour, occlusion: np.ndarray | None = None,
          opacity: float = 1.0, texture: np.ndarray | None = None, amount: float = 0.0) -> None:
    """Blend ``colour`` (3,) into ``image`` (H, W, 3) in place where the uint8 ``mask``
    (H, W) is set, modulated by ``1 + amount * texture`` ((H, W) zero-mean, optional);
    ``occlusion`` (H, W) float (optional) keeps the largest alpha painted."""
    x, y, w, h = cv2.boundingRect(mask)
    if w == 0 or h == 0:
        return
    win = (slice(y, y + h), slice(x, x + w))
    a = mask[win].astype(np.float32)[..., None] * np.float32(opacity / 255.0)
    c = np.asarray(colour, np.float32)
    if texture is not None:
        c = np.clip(c * (1 + np.float32(amount) * texture[win][..., None]), 0, 1)
    image[win] = image[win] * (1 - a) + c * a
    if occlusion is not None:
        np.maximum(occlusion[win], a[..., 0], out=occlusion[win])
