"""Mean-shape geometry of the procedural face model (millimetres).

Everything here is in the *face frame*: x to the image right of a frontal face (the
subject's left), y up, z towards the camera; the origin is on the midline at the height of
the eye corners and at the depth of the nasion.  :data:`HEAD_CENTRE` is the centre of the
head in this frame (the builder moves it to the model origin).

The surface is a grid over azimuth ``theta`` (about the vertical axis; 0 looks straight
ahead, positive towards +x; +-125 degrees, open at the back) and elevation ``phi``
(positive up; -70 to 75 degrees), both radians, denser over the face and the ears.  Rays
from the head centre hit a smooth union of superellipsoids (cranium, face and jaw, dental
arch, chin): the *base* head.  Facial features are smooth displacements, written as
functions of the base point's frontal position ``(x, y)``, along the base normal bent
towards the viewer; the ears are displacements along the normal on the sides.
Two triangles per grid cell, counter-clockwise seen from outside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegeom import face_features

HEAD_CENTRE = np.array([0.0, -22.0, -88.0])
THETA_RANGE = (-np.deg2rad(125.0), np.deg2rad(125.0))
PHI_RANGE = (-np.deg2rad(70.0), np.deg2rad(75.0))

# Base-head primitives: centre xyz, semi-axes abc, horizontal and vertical superellipse
# powers, taper (relative narrowing of x per semi-axis of height below the centre), pitch
# tilt in degrees (positive turns the front downwards).
_PRIMITIVES = (
    ((0.0, 14.0, -92.0), (71.0, 104.0, 98.0), 2.3, 2.0, 0.0, -8.0),    # cranium
    ((0.0, -44.0, -52.0), (66.0, 70.0, 56.0), 2.2, 2.8, 0.18, 18.0),   # face and jaw
    ((0.0, -61.0, -24.0), (26.0, 23.0, 33.0), 2.0, 2.0, 0.0, 0.0),     # dental arch
    ((0.0, -97.0, -20.0), (22.0, 17.0, 17.0), 2.0, 2.0, 0.0, 0.0),     # chin
)
_SMOOTH_MM = 18.0


@dataclass(frozen=True)
class FaceSurface:
    """The mean head surface and what the bases are built from.

    Attributes:
        vertices: (N, 3) mean shape, face frame, mm.
        base: (N, 3) base head points (before features), face frame, mm.
        normals: (N, 3) unit normals of the base head.
        towards: (N, 3) unit direction of the feature displacements: the base normal bent
            towards +z on the face, so that features keep their frontal position.
        xy: (N, 2) frontal position ``base[:, :2]`` in which features are placed, mm.
        front: (N,) weight in [0, 1] of the face features (1 on the face, 0 at the back).
        layers: name -> (N,) displacement along ``towards`` of each feature, mm.
        theta: (N,) azimuth, radians.
        triangles: (T, 3) int32, counter-clockwise seen from outside.
        grid_shape: (n_el, n_az); vertex ``i * n_az + j`` has elevation i, azimuth j.
    """

    vertices: np.ndarray
    base: np.ndarray
    normals: np.ndarray
    towards: np.ndarray
    xy: np.ndarray
    front: np.ndarray
    layers: dict[str, np.ndarray]
    theta: np.ndarray
    triangles: np.ndarray
    grid_shape: tuple[int, int]

    def mirror_index(self) -> np.ndarray:
        """(N,) index of each vertex's mirror image across the plane x = 0."""
        n_el, n_az = self.grid_shape
        grid = np.arange(n_el * n_az).reshape(n_el, n_az)
        return grid[:, ::-1].reshape(-1)


def warped_samples(lo: float, hi: float, n: int,
                   bumps: list[tuple[float, float, float]]) -> np.ndarray:
    """(n,) samples in [lo, hi] with density ``1 + sum gain * exp(-(t - centre)^2 / 2 width^2)``
    over the bumps ``(centre, width, gain)``."""
    t = np.linspace(lo, hi, 4001)
    density = 1.0 + sum(g * np.exp(-0.5 * ((t - c) / w) ** 2) for c, w, g in bumps)
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(t))])
    return np.interp(np.linspace(0.0, 1.0, n), cdf / cdf[-1], t)


def grid_angles(resolution: int) -> tuple[np.ndarray, np.ndarray]:
    """Azimuths (n_az,) and elevations (n_el,), radians, denser over the face.

    ``n_el = resolution`` and ``n_az = 1.25 * resolution`` rounded to an odd number so that a
    column of vertices lies on the midline (x = 0).  The elevations are shifted so that one
    row meets the lips' contact line at the midline: an opening mouth has vertices inside.
    """
    n_el = max(int(resolution), 8)
    n_az = 2 * int(round(0.625 * n_el)) + 1
    ears = [(s * np.deg2rad(104.0), np.deg2rad(9.0), 1.5) for s in (-1.0, 1.0)]
    theta = warped_samples(*THETA_RANGE, n_az, [(0.0, np.deg2rad(35.0), 3.0), *ears])
    theta = 0.5 * (theta - theta[::-1])  # exactly symmetric
    phi = warped_samples(*PHI_RANGE, n_el, [(np.deg2rad(-14.0), np.deg2rad(22.0), 3.0)])
    contact = _contact_elevation()
    return theta, phi + (contact - phi[np.abs(phi - contact).argmin()])


def _contact_elevation() -> float:
    """Elevation (radians) of the ray that meets the base head at the midline lip contact."""
    target = float(face_features.lip_curves(np.zeros(1))[1][0])
    phi = np.linspace(-1.0, 0.0, 401)
    y = base_head(np.stack([np.zeros_like(phi), np.sin(phi), np.cos(phi)], -1))[0][:, 1]
    return float(np.interp(target, y, phi))  # y rises with phi on the face


def grid_triangles(n_el: int, n_az: int) -> np.ndarray:
    """(2 (n_el-1) (n_az-1), 3) int32 triangles of the grid, outward-facing, mirror-symmetric."""
    i, j = np.meshgrid(np.arange(n_el - 1), np.arange(n_az - 1), indexing="ij")
    a, b = i * n_az + j, i * n_az + j + 1  # (i, j), (i, j+1)
    c, d = a + n_az + 1, a + n_az  # (i+1, j+1), (i+1, j)
    left = (j < (n_az - 1) // 2)[..., None]
    t1 = np.where(left, np.stack([a, b, c], -1), np.stack([a, b, d], -1))
    t2 = np.where(left, np.stack([a, c, d], -1), np.stack([b, c, d], -1))
    return np.concatenate([t1.reshape(-1, 3), t2.reshape(-1, 3)]).astype(np.int32)


def _primitive_distance(p: np.ndarray, centre: tuple, axes: tuple, power: float,
                        power_v: float, taper: float, tilt: float) -> np.ndarray:
    """Approximate signed distance (mm) to one tapered, tilted superellipsoid, (...,)."""
    q, (a, b, depth) = p - np.asarray(centre), axes
    c, s = np.cos(np.deg2rad(tilt)), np.sin(np.deg2rad(tilt))
    qy, qz = c * q[..., 1] - s * q[..., 2], s * q[..., 1] + c * q[..., 2]
    v = qy / b
    width = a * (1.0 + taper * np.clip(v, -1.5, 1.5))
    horiz = ((np.abs(q[..., 0]) / width) ** power + (np.abs(qz) / depth) ** power) ** (1 / power)
    radius = (horiz**power_v + np.abs(v) ** power_v) ** (1 / power_v)
    return (radius - 1.0) * np.minimum(np.minimum(width, b), depth)


def _blob_field(p: np.ndarray) -> np.ndarray:
    """Approximate signed distance (mm, negative inside) of the smooth union, (...,)."""
    out = _primitive_distance(p, *_PRIMITIVES[0])
    for prim in _PRIMITIVES[1:]:  # polynomial smooth minimum: blends within _SMOOTH_MM
        d = _primitive_distance(p, *prim)
        h = np.maximum(_SMOOTH_MM - np.abs(out - d), 0.0) / _SMOOTH_MM
        out = np.minimum(out, d) - 0.25 * _SMOOTH_MM * h * h
    return out


def base_head(directions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Outermost hit of rays from :data:`HEAD_CENTRE` on the base head.

    Args:
        directions: (N, 3) unit ray directions.
    Returns:
        points (N, 3) and unit outward normals (N, 3), face frame, mm.
    """
    steps = np.arange(4.0, 260.0, 1.5)
    pts = HEAD_CENTRE + steps[:, None, None] * directions[None]
    inside = _blob_field(pts) < 0
    last = len(steps) - 1 - np.argmax(inside[::-1], axis=0)
    lo, hi = steps[last], steps[np.minimum(last + 1, len(steps) - 1)]
    for _ in range(30):
        mid = 0.5 * (lo + hi)
        hit = _blob_field(HEAD_CENTRE + mid[:, None] * directions) < 0
        lo, hi = np.where(hit, mid, lo), np.where(hit, hi, mid)
    points = HEAD_CENTRE + (0.5 * (lo + hi))[:, None] * directions
    grad = np.stack([_blob_field(points + e) - _blob_field(points - e) for e in 0.05 * np.eye(3)], -1)
    return points, grad / np.linalg.norm(grad, axis=1, keepdims=True)


def build_surface(resolution: int) -> FaceSurface:
    """The mean head surface on a ``resolution``-row grid (see :func:`grid_angles`)."""
    theta, phi = grid_angles(resolution)
    th, ph = np.meshgrid(theta, phi)  # (n_el, n_az)
    directions = np.stack([np.sin(th) * np.cos(ph), np.sin(ph), np.cos(th) * np.cos(ph)], -1)
    base, normals = base_head(directions.reshape(-1, 3))
    xy = base[:, :2].copy()
    front = face_features.smoothstep(normals[:, 2], -0.05, 0.45)
    towards = normals + 2.0 * front[:, None] * np.array([0.0, 0.0, 1.0])
    towards /= np.linalg.norm(towards, axis=1, keepdims=True)
    layers = face_features.feature_layers(xy)
    height = front * sum(layers.values())
    ears = face_features.ears(base) * face_features.smoothstep(np.abs(normals[:, 0]), 0.5, 0.8)
    vertices = base + height[:, None] * towards + ears[:, None] * normals
    return FaceSurface(vertices, base, normals, towards, xy, front, layers, th.reshape(-1),
                       grid_triangles(len(phi), len(theta)), (len(phi), len(theta)))
