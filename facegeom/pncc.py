"""NCC and PNCC maps (3DDFA's Projected Normalised Coordinate Code).

The NCC colours every vertex of the mean shape by its position normalised to [0, 1] per
axis (x, y, z -> r, g, b).  The PNCC is the projected face rendered with the z-buffer of
:mod:`facegeom.rasterize` and coloured by the NCC: an (H, W, 3) float32 image in [0, 1],
zeros on the background.  Image conventions: 0-based pixels, x right, **y down**, pixel
(i, j) sampled at its centre (x=j, y=i); larger depth is nearer the camera.
"""

from __future__ import annotations

import numpy as np

from facegeom import _raster_kernels as rk
from facegeom.camera import rotation_matrix
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import split
from facegeom.rasterize import _as_triangles, _as_vertices, _check_indices


def ncc(model: MorphableModel) -> np.ndarray:
    """Normalised Coordinate Code of ``model``: (N, 3) float32, each axis of the mean in [0, 1]."""
    return model.ncc()


def _check_colors(colors: np.ndarray, n_vertices: int) -> np.ndarray:
    colors = np.ascontiguousarray(colors, dtype=np.float32)
    if colors.ndim != 2 or colors.shape[0] != n_vertices:
        raise ValueError(f"ncc_colors must have shape ({n_vertices}, C), got {colors.shape}")
    return colors


def render_pncc(
    image_vertices: np.ndarray, triangles: np.ndarray, ncc_colors: np.ndarray,
    height: int, width: int,
) -> np.ndarray:
    """Render an already projected mesh coloured by the NCC.

    Args:
        image_vertices: (N, 3) image-space vertices (pixels, y down, larger z nearer).
        triangles: (T, 3) 0-based vertex indices.
        ncc_colors: (N, 3) per-vertex colours in [0, 1] (see :func:`ncc`).
        height, width: output size in pixels.
    Returns:
        (H, W, 3) float32 in [0, 1], zeros where no triangle covers the pixel centre.
    """
    verts, tris = _as_vertices(image_vertices, 2), _as_triangles(triangles)
    _check_indices(tris, verts.shape[0])
    colors = _check_colors(ncc_colors, verts.shape[0])
    out = np.empty((height, width, colors.shape[1]), np.float32)
    rk.render(verts, tris, colors, np.empty((height, width), np.float32),
            np.empty((height, width), np.int32), out)
    return out


def render_pncc_into(
    image_vertices: np.ndarray, triangles: np.ndarray, ncc_colors: np.ndarray, out: np.ndarray,
    checked: bool = False,
) -> np.ndarray:
    """:func:`render_pncc` into a caller's buffer ``out`` (H, W, C) float32 C-contiguous.

    ``checked=True`` skips the triangle index check (a scan of all indices) for callers that
    checked ``triangles`` against the vertex count once; shapes and dtypes are still checked.
    Returns ``out``.
    """
    verts, tris = _as_vertices(image_vertices, 2), _as_triangles(triangles)
    if not checked:
        _check_indices(tris, verts.shape[0])
    colors = _check_colors(ncc_colors, verts.shape[0])
    if out.dtype != np.float32 or out.ndim != 3 or out.shape[2] != colors.shape[1] \
            or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous (H, W, {colors.shape[1]}) float32 array, "
                         f"got {out.dtype} {out.shape}")
    h, w = out.shape[:2]
    rk.render(verts, tris, colors, np.empty((h, w), np.float32), np.empty((h, w), np.int32), out)
    return out


def project_linear_model(mean: np.ndarray, basis: np.ndarray, coeffs: np.ndarray, poses: np.ndarray
                         ) -> np.ndarray:
    """Shapes of a linear model projected to the image, in one compiled pass over the basis.

    Equal (to float32 rounding of the sums) to ``camera.project(pose, mean + (basis @ c).reshape(-1, 3))``
    per face; the basis is read once for the whole batch (it is the memory-bound part).

    Args:
        mean: (N, 3) model-space mean shape (y up, z towards the camera).
        basis: (3N, K) components, rows xyz interleaved per vertex.
        coeffs: (B, K) coefficients.
        poses: (B, 6) ``(f, pitch, yaw, roll, tx, ty)``.
    Returns:
        (B, N, 3) float32 image-space vertices (pixels, y down; larger z nearer).
    """
    mean = _as_vertices(mean, 2)
    basis = np.ascontiguousarray(basis, np.float32)
    coeffs = np.ascontiguousarray(np.atleast_2d(coeffs), np.float32)
    poses = np.asarray(np.atleast_2d(poses), np.float64)
    if basis.shape != (3 * mean.shape[0], coeffs.shape[1]) or poses.shape != (coeffs.shape[0], 6):
        raise ValueError(f"project_linear_model: mean {mean.shape}, basis {basis.shape}, coeffs "
                         f"{coeffs.shape} and poses {poses.shape} do not fit (N, 3), (3N, K), (B, K), (B, 6)")
    rot = np.stack([p[0] * rotation_matrix(p[1], p[2], p[3]) for p in poses]) if len(poses) \
        else np.empty((0, 3, 3))
    out = np.empty((coeffs.shape[0], mean.shape[0], 3), np.float32)
    shift = np.ascontiguousarray(poses[:, 4:6])
    rk.project_linear(mean, basis, coeffs, np.ascontiguousarray(rot), shift, out)
    return out


def render_pncc_pose(
    pose: np.ndarray, vertices: np.ndarray, triangles: np.ndarray, ncc_colors: np.ndarray,
    height: int, width: int,
) -> np.ndarray:
    """Project model-space ``vertices`` with ``pose`` and render the PNCC, in one compiled call.

    Args:
        pose: (6,) ``(f, pitch, yaw, roll, tx, ty)`` as in :func:`facegeom.camera.project`.
        vertices: (N, 3) model-space vertices (y up, z towards the camera).
        triangles, ncc_colors, height, width: as in :func:`render_pncc`.
    Returns:
        (H, W, 3) float32 in [0, 1], zeros on the background.
    """
    f, pitch, yaw, roll, tx, ty = (float(v) for v in np.asarray(pose, np.float64).reshape(6))
    model_verts, tris = _as_vertices(vertices, 2), _as_triangles(triangles)
    _check_indices(tris, model_verts.shape[0])
    colors = _check_colors(ncc_colors, model_verts.shape[0])
    rot = np.ascontiguousarray(f * rotation_matrix(pitch, yaw, roll), dtype=np.float32)
    out = np.empty((height, width, colors.shape[1]), np.float32)
    rk.render_pose(model_verts, rot, np.float32(tx), np.float32(ty), tris, colors,
                 np.empty_like(model_verts), np.empty((height, width), np.float32),
                 np.empty((height, width), np.int32), out)
    return out


def render_pncc_params(
    params: np.ndarray, model: MorphableModel, height: int, width: int,
    ncc_colors: np.ndarray | None = None,
) -> np.ndarray:
    """PNCC of one parameter vector (pose, identity, expression; see :mod:`facegeom.parameters`).

    Args:
        params: (6 + K_id + K_exp,) parameters in the frame of the (H, W) image.
        model: the morphable model the parameters refer to.
        height, width: output size in pixels.
        ncc_colors: (N, 3) colours; default ``ncc(model)`` (pass it to save recomputing).
    Returns:
        (H, W, 3) float32 in [0, 1], zeros on the background.
    """
    pose, a_id, a_exp = split(np.asarray(params, np.float64), model)
    colors = ncc(model) if ncc_colors is None else ncc_colors
    return render_pncc_pose(pose, model.vertices(a_id, a_exp), model.triangles, colors,
                            height, width)
