"""The 68 iBUG landmark vertices and the jaw-contour candidates of the procedural face.

Positions are in the face frame of :mod:`facegeom.face_surface` (mm; x to the image right
of a frontal face, y up, z towards the camera, origin on the midline at eye-corner height
and nasion depth).
"""

from __future__ import annotations

import numpy as np

from facegeom import face_features, face_proportions
from facegeom.face_surface import FaceSurface


def landmark_vertices(surface: FaceSurface) -> np.ndarray:
    """(68,) int64 vertex of each iBUG-68 point on the mean shape.

    Inner points (17-67) take the face vertex nearest to their frontal target; inner-lip
    points stay on their own lip, off the contact line.  Jaw points (0-16) take the frontal
    silhouette: of the vertices near the outline farthest from the mid-face centre in the
    target's direction (within :data:`~facegeom.face_proportions.JAW_SILHOUETTE_TOLERANCE`
    mm of it), in front of the ears, the one nearest the depth measured on real faces
    (:data:`~facegeom.face_proportions.JAW_DEPTH_BEHIND_NOSE_TIP`).
    """
    targets, xy = face_features.landmark_targets(), surface.vertices[:, :2]
    _, contact, _ = face_features.lip_curves(surface.xy[:, 0])
    above, below = surface.xy[:, 1] > contact + 0.75, surface.xy[:, 1] < contact - 0.75
    face = surface.front > 0.9
    out = np.zeros(68, np.int64)
    for k in range(17, 68):
        ok = face & (above if k in (61, 62, 63) else below if k in (65, 66, 67) else True)
        out[k] = np.where(ok, np.linalg.norm(xy - targets[k], axis=1), np.inf).argmin()
    psi, rad = _jaw_polar(xy)
    side = (xy[:, 0] < -0.5) & (np.abs(surface.theta) <= np.deg2rad(92.0))
    psi_t, _ = _jaw_polar(targets[:8])
    depth = surface.vertices[out[30], 2] - np.asarray(face_proportions.JAW_DEPTH_BEHIND_NOSE_TIP)
    tol = face_proportions.JAW_SILHOUETTE_TOLERANCE
    for k in range(8):
        for angle in (1.5, 3.0, 6.0, 12.0):
            ok = side & (np.abs(psi - psi_t[k]) < np.deg2rad(angle))
            if ok.any():
                out[k] = _nearest_depth(surface, ok & (rad >= rad[ok].max() - tol[k]), depth[k])
                break
    mid = (np.abs(surface.theta) <= np.deg2rad(92.0)) & (np.abs(xy[:, 0]) < 1e-6)
    out[8] = _nearest_depth(surface, mid & (xy[:, 1] <= xy[mid, 1].min() + tol[8]), depth[8])
    out[9:17] = surface.mirror_index()[out[7::-1]]
    return out


def _nearest_depth(surface: FaceSurface, mask: np.ndarray, z: float) -> int:
    """The vertex of ``mask`` whose depth is nearest ``z`` (mm)."""
    return int(np.where(mask, np.abs(surface.vertices[:, 2] - z), np.inf).argmin())


def _jaw_polar(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Angle (radians; 0 = horizontal towards -x, -pi/2 = down) and radius (mm) of frontal
    positions (N, 2) about the mid-face centre, for the image-left half."""
    rel = xy - np.array([0.0, -35.0])
    return np.arctan2(rel[:, 1], -rel[:, 0]), np.hypot(rel[:, 0], rel[:, 1])


def contour_candidates(surface: FaceSurface, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Jaw-contour candidates (image-left, image-right), int64 vertex indices.

    A band over the lower cheek and jaw of each side, from two thirds of the way out from
    the mid-face to the frontal jaw line, out to the side of the head in front of the ear
    (azimuth up to 92 degrees) and under the jaw, below jaw point 0; it holds jaw points
    0-7 (9-16).
    """
    xy = surface.vertices[:, :2]
    psi, rad = _jaw_polar(xy)
    jaw_psi, jaw_rad = _jaw_polar(xy[landmarks[:9]])
    order = np.argsort(jaw_psi)
    inner = 0.65 * np.interp(psi, jaw_psi[order], jaw_rad[order])
    row = np.arange(len(xy)) // surface.grid_shape[1]
    band = ((xy[:, 0] < -0.5) & (np.abs(surface.theta) <= np.deg2rad(92.0)) & (row >= 2)
            & (psi <= jaw_psi[0] + np.deg2rad(2.0)) & (rad >= inner))
    left = np.union1d(np.flatnonzero(band), landmarks[:8])
    right = np.sort(surface.mirror_index()[left])
    return left.astype(np.int64), right.astype(np.int64)
