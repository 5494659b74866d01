"""Render one photo-like face crop from morphable-model parameters.

Used by the synthetic dataset generator and by anything that needs two views of the
same face with known correspondence (the DFF matching evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facealign.data import look as looks
from facealign.data.appearance import Appearance, shade, vertex_normals
from facealign.data.scene import Look
from facegeom import parameters
from facegeom.camera import project, rotation_matrix
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import Raster, interpolate, rasterize, vertex_visibility


@dataclass
class RenderedFace:
    """A rendered face.

    Attributes:
        image: (S, S, 3) uint8 RGB.
        image_vertices: (N, 3) projected vertices (pixels, y down; depth larger = nearer).
        raster: the z-buffer at the output resolution (triangle index, barycentrics).
        visible: (N,) bool vertex visibility.
        occluded: (S, S) bool, True where an occluder (hair, glasses, hat, hand) hides a
            face pixel of ``raster``; ``None`` when rendered without a look.
    """

    image: np.ndarray
    image_vertices: np.ndarray
    raster: Raster
    visible: np.ndarray
    occluded: np.ndarray | None = None


def sample_pose(
    model: MorphableModel, rng: np.random.Generator, size: int, yaw_deg: float,
    pitch_deg: float, roll_deg: float, face_scale: float, jitter: float, shape: np.ndarray,
) -> np.ndarray:
    """Pose (6,) framing ``shape`` (N, 3) in a ``size`` px crop.

    The larger side of the projected landmark box becomes ``face_scale * size`` and its
    centre lands ``jitter * size`` (at most, uniformly) away from the crop centre.
    """
    angles = np.deg2rad([pitch_deg, yaw_deg, roll_deg])
    unit = project(np.array([1.0, *angles, 0.0, 0.0]), shape[model.landmarks])[:, :2]
    lo, hi = unit.min(0), unit.max(0)
    f = face_scale * size / max(float((hi - lo).max()), 1e-6)
    centre = size / 2 + rng.uniform(-jitter, jitter, 2) * size
    tx, ty = centre - f * (lo + hi) / 2
    return np.array([f, *angles, tx, ty])


def render_face(
    model: MorphableModel, params: np.ndarray, appearance: Appearance, size: int,
    supersample: int = 2, rng: np.random.Generator | None = None, look: Look | None = None,
) -> RenderedFace:
    """Render ``params`` (6 + K_id + K_exp,) in a ``size`` x ``size`` crop.

    The face is rasterised at ``supersample`` times the size and area-downsampled, so its
    outline is anti-aliased; ``rng`` (optional) adds blur and sensor noise; ``look``
    (optional) adds the photo-like effects of :mod:`facealign.data.look`.  Neither changes
    the geometry: ``image_vertices``, ``raster`` and ``visible`` depend on ``params`` only.
    """
    pose, a_id, a_exp = parameters.split(np.asarray(params, np.float64), model)
    shape = model.vertices(a_id, a_exp)
    verts = project(pose, shape)
    rot = rotation_matrix(*pose[1:4])
    normals_cam = vertex_normals(shape, model.triangles) @ rot.T
    skin_albedo = np.median(appearance.albedo, axis=0)
    if look is not None:
        appearance, spec = looks.relight(look, appearance, shape, normals_cam)
        colours = np.clip(shade(appearance, normals_cam) + spec, 0, 1)
    else:
        colours = shade(appearance, normals_cam)

    big = size * supersample
    hi_res = verts.copy()
    hi_res[:, :2] = (hi_res[:, :2] + 0.5) * supersample - 0.5
    hi_raster = rasterize(hi_res, model.triangles, big, big)
    face = interpolate(hi_raster, model.triangles, colours)
    mask = (hi_raster.triangle >= 0)[..., None].astype(np.float32)
    bg = cv2.resize(appearance.background, (big, big), interpolation=cv2.INTER_LINEAR)
    if look is None:
        composite = face * mask + bg * (1 - mask)
    else:
        big_pose = np.array([pose[0] * supersample, *pose[1:4], (pose[4] + 0.5) * supersample - 0.5,
                             (pose[5] + 0.5) * supersample - 0.5])
        scene = looks.make_scene(model, shape, big_pose, hi_res, hi_raster,
                                 vertex_visibility(hi_res, hi_raster), appearance, skin_albedo)
        composite, occlusion = looks.compose(look, scene, face, bg)
    image = cv2.resize(composite, (size, size), interpolation=cv2.INTER_AREA)
    if rng is not None:
        sigma = rng.uniform(0.0, 0.8)
        if sigma > 0.3:
            image = cv2.GaussianBlur(image, (0, 0), sigma)
        image = image + rng.normal(0, rng.uniform(0.0, 0.025), image.shape).astype(np.float32)
    if look is not None:
        image = looks.finish(look, image)
    image8 = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)

    raster = rasterize(verts, model.triangles, size, size)
    occluded = None
    if look is not None:
        small = cv2.resize(occlusion, (size, size), interpolation=cv2.INTER_AREA)
        occluded = (small > 0.5) & raster.mask
    return RenderedFace(image8, verts, raster, vertex_visibility(verts, raster), occluded)
