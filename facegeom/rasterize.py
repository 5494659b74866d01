"""A numba z-buffer triangle rasteriser for projected meshes.

Image-space vertices are ``(N, 3)`` float32: x right, y down (0-based pixels; pixel
``(row i, col j)`` has its centre at ``x=j, y=i``) and depth z where **larger z is
nearer** the camera (see :func:`facegeom.camera.project`).  Triangles are ``(T, 3)``
vertex indices.  Rasterisation is two-sided (no back-face culling), samples pixel
centres and uses a top-left fill rule on exactly shared edges, so a closed mesh has
no cracks and no pixel is drawn twice by two triangles sharing an edge.

The z-buffer pass only writes depth and the winning triangle; barycentric weights
(and interpolated attributes) are resolved afterwards, once per covered pixel.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facegeom import _raster_kernels as rk


@dataclass
class Raster:
    """The z-buffer of one image, or of a batch with a leading ``B`` axis.

    Attributes:
        depth: (H, W) or (B, H, W) float32 depth of the nearest surface, -inf where empty.
        triangle: (H, W) or (B, H, W) int32 index of the visible triangle, -1 where empty.
        bary: (H, W, 3) or (B, H, W, 3) float32 barycentric weights of the visible
            triangle's three vertices at the pixel centre (they sum to 1; 0 where empty).
    """

    depth: np.ndarray
    triangle: np.ndarray
    bary: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        """(H, W) or (B, H, W) bool, True where a triangle covers the pixel centre."""
        return self.triangle >= 0


def _as_triangles(triangles: np.ndarray) -> np.ndarray:
    tris = np.ascontiguousarray(triangles, dtype=np.int32)
    if tris.ndim != 2 or tris.shape[1] != 3:
        raise ValueError(f"triangles must have shape (T, 3), got {tris.shape}")
    return tris


def _as_vertices(vertices: np.ndarray, ndim: int) -> np.ndarray:
    verts = np.ascontiguousarray(vertices, dtype=np.float32)
    if verts.ndim != ndim or verts.shape[-1] != 3:
        lead = "(N, 3)" if ndim == 2 else "(B, N, 3)"
        raise ValueError(f"vertices must have shape {lead}, got {verts.shape}")
    return verts


def _check_indices(tris: np.ndarray, n_vertices: int) -> None:
    if tris.size and (tris.min() < 0 or tris.max() >= n_vertices):
        raise ValueError("triangles index outside the vertices")


def rasterize(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int) -> Raster:
    """Z-buffer one projected mesh.

    Args:
        vertices: (N, 3) image-space vertices (x, y in pixels, y down; larger z nearer).
        triangles: (T, 3) 0-based vertex indices.
        height, width: image size in pixels.
    Returns:
        a :class:`Raster` with (H, W) depth / triangle and (H, W, 3) bary.
    """
    verts, tris = _as_vertices(vertices, 2), _as_triangles(triangles)
    _check_indices(tris, verts.shape[0])
    depth = np.empty((height, width), np.float32)
    tri_id = np.empty((height, width), np.int32)
    bary = np.empty((height, width, 3), np.float32)
    rk.zbuffer(verts, tris, depth, tri_id)
    rk.barycentric(verts, tris, tri_id, bary)
    return Raster(depth, tri_id, bary)


def depth_buffer(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int) -> np.ndarray:
    """The z-buffer's depth alone: ``rasterize(...).depth`` without the barycentric pass.

    Args:
        vertices, triangles, height, width: as in :func:`rasterize`.
    Returns:
        (H, W) float32 depth of the nearest surface, -inf where empty.
    """
    verts, tris = _as_vertices(vertices, 2), _as_triangles(triangles)
    _check_indices(tris, verts.shape[0])
    depth = np.empty((height, width), np.float32)
    rk.zbuffer(verts, tris, depth, np.empty((height, width), np.int32))
    return depth


def rasterize_batch(vertices: np.ndarray, triangles: np.ndarray, height: int, width: int) -> Raster:
    """Z-buffer a batch of projected meshes sharing one triangle list (images in parallel).

    Args:
        vertices: (B, N, 3) image-space vertices.
        triangles: (T, 3) 0-based vertex indices.
        height, width: image size in pixels.
    Returns:
        a :class:`Raster` with (B, H, W) depth / triangle and (B, H, W, 3) bary; image ``b``
        equals ``rasterize(vertices[b], ...)``.
    """
    verts, tris = _as_vertices(vertices, 3), _as_triangles(triangles)
    _check_indices(tris, verts.shape[1])
    b = verts.shape[0]
    depth = np.empty((b, height, width), np.float32)
    tri_id = np.empty((b, height, width), np.int32)
    bary = np.empty((b, height, width, 3), np.float32)
    if b:
        rk.rasterize_batch(verts, tris, depth, tri_id, bary)
    return Raster(depth, tri_id, bary)


def interpolate(raster: Raster, triangles: np.ndarray, attributes: np.ndarray) -> np.ndarray:
    """Interpolate per-vertex attributes at every pixel with the raster's barycentrics.

    Args:
        raster: from :func:`rasterize` (H, W) or :func:`rasterize_batch` (B, H, W).
        triangles: (T, 3) the triangles the raster was made with.
        attributes: (N, C) per-vertex values, or (B, N, C) one set per batch image.
    Returns:
        (H, W, C) or (B, H, W, C) float32, zeros where no triangle covers the pixel.
    """
    tris = _as_triangles(triangles)
    attrs = np.ascontiguousarray(attributes, dtype=np.float32)
    batched = raster.triangle.ndim == 3
    if attrs.ndim not in (2, 3) or (attrs.ndim == 3 and not batched):
        raise ValueError(f"attributes must have shape (N, C) or (B, N, C), got {attrs.shape}")
    tri_id = raster.triangle if batched else raster.triangle[None]
    bary = raster.bary if batched else raster.bary[None]
    if attrs.ndim == 2:
        attrs = np.broadcast_to(attrs, (tri_id.shape[0], *attrs.shape))
    if attrs.shape[0] != tri_id.shape[0]:
        raise ValueError("attributes and raster have different batch sizes")
    out = np.empty((*tri_id.shape, attrs.shape[-1]), np.float32)
    for b in range(tri_id.shape[0]):
        rk.interpolate_bary(tris, tri_id[b], bary[b], attrs[b], out[b])
    return out if batched else out[0]


def vertex_visibility(vertices: np.ndarray, raster: Raster, tolerance: float = 0.02) -> np.ndarray:
    """Which vertices are inside the image and not hidden by the mesh.

    A vertex is visible when it lies within the image (``-0.5 <= x < W - 0.5``, same for
    y) and, at one of the covered pixel centres among the (up to) four around it, the
    z-buffer is not nearer than the vertex by more than ``tolerance * (z.max() - z.min())``
    (plus a few float32 rounding steps);
    a vertex with no covered centre around it (a thin sliver) counts as visible.  Checking
    the surrounding centres rather than the nearest one keeps vertices on steep slopes and
    on the silhouette visible.

    Args:
        vertices: (N, 3) image-space vertices the raster was made from.
        raster: a single-image :class:`Raster` (H, W).
        tolerance: allowed depth gap as a fraction of the mesh's depth range.
    Returns:
        (N,) bool.
    """
    if raster.depth.ndim != 2:
        raise ValueError("vertex_visibility takes a single-image raster (H, W)")
    return depth_visibility(vertices, raster.depth, tolerance)


def depth_visibility(vertices: np.ndarray, depth: np.ndarray, tolerance: float = 0.02,
                     ids: np.ndarray | None = None) -> np.ndarray:
    """:func:`vertex_visibility` against a bare depth map (:func:`depth_buffer`).

    Args:
        vertices: (N, 3) image-space vertices the depth map was made from.
        depth: (H, W) float32 depth, -inf where empty.
        tolerance: as in :func:`vertex_visibility` (relative to the depth range of all N).
        ids: (M,) vertex indices to test (default: all).
    Returns:
        (N,) bool, or (M,) for ``ids``; equal to ``vertex_visibility(...)[ids]``.
    """
    verts = _as_vertices(vertices, 2)
    depth = np.ascontiguousarray(depth, np.float32)
    if depth.ndim != 2:
        raise ValueError(f"depth must have shape (H, W), got {depth.shape}")
    z = verts[:, 2][np.isfinite(verts[:, 2])]
    # relative to the depth range, plus a few float32 ulps so flat meshes stay visible
    tol = float(tolerance) * float(z.max() - z.min()) + 1e-6 * float(np.abs(z).max()) \
        if z.size else 0.0
    tested = verts if ids is None else np.ascontiguousarray(verts[np.asarray(ids, np.int64)])
    visible = np.empty(tested.shape[0], np.bool_)
    rk.visibility(tested, depth, np.float32(tol), visible)
    return visible
