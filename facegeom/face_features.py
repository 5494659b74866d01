"""Facial features of the procedural face as smooth height fields over the frontal plane.

All positions are in the face frame of :mod:`facegeom.face_surface` (mm; x to the image
right of a frontal face, y up, origin on the midline at eye-corner height).  A feature
layer maps frontal positions ``xy`` (N, 2) to a displacement (N,) in mm along the outward
normal of the base head (positive raises the surface towards the viewer).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import PchipInterpolator

from facegeom.face_proportions import DEPTH_CORRECTIONS

# iBUG-68 semantic positions, image-left half (x <= 0) and midline points; (x, y) in mm.
_LEFT_TARGETS = {
    0: (-72.0, -6.0), 1: (-70.5, -29.5), 2: (-67.0, -48.5), 3: (-63.0, -65.0),
    4: (-57.0, -81.5), 5: (-47.5, -92.0), 6: (-36.0, -102.0), 7: (-20.5, -109.0),
    8: (0.0, -112.0),
    17: (-57.0, 13.0), 18: (-49.0, 19.5), 19: (-38.5, 21.5), 20: (-28.0, 21.0), 21: (-18.5, 19.5),
    27: (0.0, 0.5), 28: (0.0, -11.5), 29: (0.0, -23.0), 30: (0.0, -34.5),
    31: (-12.0, -42.5), 32: (-6.5, -44.0), 33: (0.0, -45.0),
    36: (-44.0, 0.5), 37: (-37.0, 4.5), 38: (-27.5, 4.6), 39: (-19.0, 0.0),
    40: (-27.0, -2.8), 41: (-36.5, -3.0),
    48: (-25.0, -66.5), 49: (-16.0, -61.0), 50: (-5.7, -57.3), 51: (0.0, -58.3),
    57: (0.0, -74.8), 58: (-8.0, -74.0), 59: (-16.0, -71.3),
    60: (-22.5, -66.3), 61: (-7.3, -63.8), 62: (0.0, -63.9), 66: (0.0, -66.8), 67: (-7.3, -66.5),
}
# iBUG index of the mirror image of each point.
MIRROR_68 = np.array(
    list(range(16, -1, -1)) + list(range(26, 16, -1)) + [27, 28, 29, 30] + [35, 34, 33, 32, 31]
    + [45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40]
    + [54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55] + [64, 63, 62, 61, 60, 67, 66, 65]
)
MOUTH_HALF_WIDTH = 25.0
EYES = ((-31.5, 0.8), (31.5, 0.8))


def landmark_targets() -> np.ndarray:
    """(68, 2) iBUG-68 semantic positions in the frontal plane, mm (jaw points 0-16 give
    the directions in which the jaw contour is sought)."""
    out = np.full((68, 2), np.nan)
    for k, (x, y) in _LEFT_TARGETS.items():
        out[k] = (x, y)
        out[MIRROR_68[k]] = (-x, y)
    return out


def smoothstep(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, cubic in between."""
    t = np.clip((np.asarray(v) - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def gauss(xy: np.ndarray, centre: tuple[float, float], sigma: tuple[float, float]) -> np.ndarray:
    """(N,) anisotropic Gaussian bump of peak 1 at ``centre`` with ``sigma`` (sx, sy), mm."""
    d = (xy - np.asarray(centre)) / np.asarray(sigma)
    return np.exp(-0.5 * (d**2).sum(-1))


def gauss_pair(xy: np.ndarray, centre: tuple[float, float], sigma: tuple[float, float]) -> np.ndarray:
    """:func:`gauss` at ``centre`` plus its mirror image (x -> -x)."""
    return gauss(xy, centre, sigma) + gauss(xy, (-centre[0], centre[1]), sigma)


def stroke(xy: np.ndarray, points: list[tuple[float, float]], width: float | list[float],
           amp: float | list[float]) -> np.ndarray:
    """(N,) ridge (amp > 0) or groove along a polyline: ``amp * exp(-d^2 / 2 width^2)``.

    ``width`` and ``amp`` are scalars or per-vertex-of-the-polyline lists (linearly
    interpolated along it), mm.
    """
    p = np.asarray(points, float)
    a, ab = p[:-1], p[1:] - p[:-1]
    rel = xy[:, None, :] - a[None]
    t = np.clip((rel * ab).sum(-1) / (ab**2).sum(-1), 0.0, 1.0)
    d2 = ((rel - t[..., None] * ab) ** 2).sum(-1)
    seg = d2.argmin(1)
    rows = np.arange(len(xy))
    tt, dd = t[rows, seg], d2[rows, seg]
    w = np.broadcast_to(np.asarray(width, float), (len(p),))
    am = np.broadcast_to(np.asarray(amp, float), (len(p),))
    w_at = w[seg] * (1 - tt) + w[seg + 1] * tt
    a_at = am[seg] * (1 - tt) + am[seg + 1] * tt
    return a_at * np.exp(-0.5 * dd / w_at**2)


def lip_curves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Upper vermilion border, lip contact line and lower vermilion border heights at ``x``.

    Returns three (N,) arrays of y in mm (valid for |x| <= :data:`MOUTH_HALF_WIDTH`; clamped
    beyond it, where all three meet at the mouth corners).
    """
    ax = np.minimum(np.abs(x), MOUTH_HALF_WIDTH)
    upper = PchipInterpolator([0.0, 5.7, 11.0, 16.0, 21.0, 25.0],
                              [-58.6, -57.3, -58.8, -61.0, -63.5, -66.5])(ax)
    contact = -66.5 + 1.2 * (1.0 - (ax / MOUTH_HALF_WIDTH) ** 2)
    lower = PchipInterpolator([0.0, 8.0, 16.0, 21.0, 25.0],
                              [-75.0, -74.2, -71.5, -69.2, -66.5])(ax)
    return upper, contact, lower


def _lips(xy: np.ndarray) -> np.ndarray:
    x, y = xy[:, 0], xy[:, 1]
    upper, contact, lower = lip_curves(x)
    taper = smoothstep(MOUTH_HALF_WIDTH + 0.5 - np.abs(x), 0.0, 13.0)
    tu = (y - contact) / (upper - contact + 1e-6)
    tl = (y - contact) / (lower - contact - 1e-6)
    up = 3.6 * smoothstep(tu, -0.3, 0.4) * (1.0 - smoothstep(tu, 0.85, 1.4)) * (0.75 + 0.25 * tu)
    low = 4.6 * smoothstep(tl, -0.3, 0.35) * (1.0 - smoothstep(tl, 0.65, 1.45))
    groove = stroke(xy, [(-MOUTH_HALF_WIDTH, -66.5), (0.0, -65.3), (MOUTH_HALF_WIDTH, -66.5)],
                    1.3, [-0.6, -1.6, -0.6])
    corners = -3.0 * gauss_pair(xy, (-MOUTH_HALF_WIDTH - 1.5, -66.5), (3.5, 4.0))
    return taper * (up + low) + groove + corners


def _nose(xy: np.ndarray) -> np.ndarray:
    x, y = xy[:, 0], xy[:, 1]
    ky = [-50.0, -47.0, -44.0, -40.0, -36.0, -32.0, -25.0, -16.0, -7.0, 0.0, 6.0, 13.0]
    height = PchipInterpolator(ky, [0.0, 5.0, 13.0, 21.5, 26.0, 27.0, 25.5, 20.0, 13.0,
                                    7.5, 3.5, 0.0], extrapolate=False)(y)
    width = PchipInterpolator(ky, [8.0, 8.5, 8.5, 8.0, 7.5, 7.0, 6.5, 6.0, 6.0, 6.5, 8.0, 10.0])(
        np.clip(y, -50.0, 13.0))
    bridge = np.nan_to_num(height) * np.exp(-0.5 * (x / width) ** 2)
    alae = 2.5 * gauss_pair(xy, (-12.5, -41.0), (4.5, 4.2))
    crease = stroke(xy, [(-9.0, -34.0), (-16.0, -36.0), (-18.0, -41.0), (-15.0, -45.5)],
                    1.8, -1.5)
    crease += stroke(xy, [(9.0, -34.0), (16.0, -36.0), (18.0, -41.0), (15.0, -45.5)], 1.8, -1.5)
    nostrils = -3.5 * gauss_pair(xy, (-6.0, -44.0), (2.6, 1.8))
    return bridge + alae + crease + nostrils


def _eyes(xy: np.ndarray) -> dict[str, np.ndarray]:
    socket = -13.0 * gauss_pair(xy, (-30.0, 2.5), (14.0, 9.5))
    eyeball = 8.0 * gauss_pair(xy, (-31.5, 0.3), (8.5, 5.2))
    lids = np.zeros(len(xy))
    for s in (-1.0, 1.0):
        upper = [(s * 45.0, 1.2), (s * 37.0, 5.6), (s * 27.5, 5.7), (s * 18.5, 0.8)]
        crease = [(s * 46.0, 5.0), (s * 37.0, 10.5), (s * 27.0, 10.5), (s * 18.0, 5.0)]
        lower = [(s * 44.5, -0.2), (s * 36.5, -3.9), (s * 27.0, -3.7), (s * 19.0, -0.6)]
        lids += stroke(xy, upper, 1.8, [0.3, 1.8, 1.8, 0.3])
        lids += stroke(xy, crease, 2.0, [0.0, -1.5, -1.5, 0.0])
        lids += stroke(xy, lower, 1.8, [0.2, 0.9, 0.9, 0.2])
        lids += stroke(xy, [(s * 41.0, -9.0), (s * 30.0, -10.5), (s * 20.0, -7.0)], 3.0, -1.0)
    brow_line = [(-60.0, 10.0), (-47.0, 17.0), (-32.0, 19.0), (-16.0, 15.5), (0.0, 13.0),
                 (16.0, 15.5), (32.0, 19.0), (47.0, 17.0), (60.0, 10.0)]
    brow = stroke(xy, brow_line, 6.5, [0.0, 3.0, 4.5, 5.5, 5.0, 5.5, 4.5, 3.0, 0.0])
    return {"socket": socket, "eyeball": eyeball, "lids": lids, "brow": brow}


def ears(points: np.ndarray) -> np.ndarray:
    """(N,) outward displacement (mm) of the sides of the head that forms the ears, from the
    side-view position ``(y, z)`` of base points (N, 3)."""
    yz = points[:, 1:]
    c, s = np.cos(np.deg2rad(15.0)), np.sin(np.deg2rad(15.0))
    rel = yz - np.array([-17.0, -108.0])
    u = np.stack([c * rel[:, 0] - s * rel[:, 1], s * rel[:, 0] + c * rel[:, 1]], -1)
    r = np.hypot(u[:, 0] / 31.0, u[:, 1] / 14.0)
    back = smoothstep(-u[:, 1], -14.0, 12.0)
    plate = smoothstep(1.0 - r, -0.05, 0.4) * (3.0 + 8.0 * back)
    rim = 2.0 * np.exp(-0.5 * ((r - 0.8) / 0.12) ** 2)
    concha = 5.0 * np.exp(-0.5 * (((yz[:, 0] + 21.0) / 8.0) ** 2 + ((yz[:, 1] + 101.0) / 5.5) ** 2))
    tragus = 3.0 * np.exp(-0.5 * (((yz[:, 0] + 20.0) / 3.5) ** 2 + ((yz[:, 1] + 95.0) / 2.5) ** 2))
    return plate + rim * (0.4 + back) - concha + tragus


def jaw_weight(xy: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(N,) weight of the parts that move with the lower jaw: below the lip contact line at
    the mouth, below a line rising towards the ear on the cheeks, in front of the ears."""
    x, y = xy[:, 0], xy[:, 1]
    _, contact, _ = lip_curves(x)
    ax = np.abs(x)
    line = contact + 55.0 * np.clip((ax - 25.0) / 40.0, 0.0, None) ** 1.5
    soft = 0.7 + 12.0 * smoothstep(ax, 20.0, 50.0)
    below = 1.0 / (1.0 + np.exp(np.clip((y - line) / soft, -50.0, 50.0)))
    return below * smoothstep(z, -100.0, -75.0)


def eye_closing(xy: np.ndarray, eye: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Upper-lid closing of the eye centred at ``eye``: (dy, dz), each (N,), mm.

    The lid region slides down onto the lower lid (a full unit closes the eye) and the
    skin above it follows, fading over 10 mm; nothing folds for amounts up to 1.
    """
    x, y = xy[:, 0], xy[:, 1]
    u = np.clip(1.0 - ((x - eye[0]) / 13.0) ** 2, 0.0, 1.0)
    top, bottom = eye[1] + 4.8 * u, eye[1] - 3.6 * u
    ramp = np.clip((y - bottom) / np.maximum(top - bottom, 1e-3), 0.0, 1.0)
    ramp *= 1.0 - smoothstep(y, top, top + 10.0)
    ramp *= 1.0 - smoothstep(np.abs(x - eye[0]), 11.0, 17.0)
    return -ramp * (top - bottom + 0.5), 0.15 * ramp


def feature_layers(xy: np.ndarray) -> dict[str, np.ndarray]:
    """Displacements (N,) in mm along the base normal for frontal positions ``xy`` (N, 2)."""
    layers = _eyes(xy)
    layers["nose"] = _nose(xy)
    layers["lips"] = _lips(xy)
    layers["philtrum"] = stroke(xy, [(-4.0, -47.0), (-5.0, -58.0)], 1.3, 0.8) + stroke(
        xy, [(4.0, -47.0), (5.0, -58.0)], 1.3, 0.8)
    layers["chin"] = 4.0 * gauss(xy, (0.0, -100.0), (13.0, 9.0)) - stroke(
        xy, [(-15.0, -80.0), (0.0, -82.0), (15.0, -80.0)], 2.8, 2.0)
    layers["cheekbone"] = 5.0 * gauss_pair(xy, (-47.0, -18.0), (13.0, 9.0))
    layers["cheek"] = 2.5 * gauss_pair(xy, (-35.0, -50.0), (13.0, 14.0)) + stroke(
        xy, [(-17.0, -40.0), (-24.0, -56.0), (-29.0, -70.0)], 2.2, [-1.2, -1.2, -0.4]) + stroke(
        xy, [(17.0, -40.0), (24.0, -56.0), (29.0, -70.0)], 2.2, [-1.2, -1.2, -0.4])
    layers["temple"] = -3.0 * gauss_pair(xy, (-60.0, 20.0), (11.0, 14.0))
    layers["calibration"] = sum(
        amp * (gauss(xy, c, sig) if c[0] == 0.0 else gauss_pair(xy, c, sig))
        for _, c, sig, amp in DEPTH_CORRECTIONS)
    return layers
