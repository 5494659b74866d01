"""Compiled kernels behind :mod:`facegeom.rasterize` and :mod:`facegeom.pncc`.

They live in one module because numba's on-disk cache is invalidated per source file: a
kernel calling kernels of another module could keep stale compiled code.  All kernels but
:func:`rasterize_batch` are single-threaded; all release the GIL.  Conventions as in
:mod:`facegeom.rasterize`: vertices (N, 3) float32 in pixels (x right, y down, larger z
nearer), triangles (T, 3) int32, pixel (i, j) sampled at its centre (x=j, y=i).

Edge functions are evaluated in float64 with the edge's endpoints taken in ascending
vertex-index order, so two triangles sharing an edge compute bit-identical values there
(up to sign); with the top-left rule for centres exactly on an edge, a closed mesh has
neither cracks nor pixels claimed by both neighbours.
"""

from __future__ import annotations

import numba
import numpy as np

# fastmath without 'contract' (FMA) or 'reassoc': edge functions must round identically
_JIT = {"cache": True, "nogil": True, "fastmath": {"nsz", "arcp", "afn"}}


@numba.njit(inline="always", **_JIT)
def _canonical_edge(ia, ib, xa, ya, xb, yb, orient):
    """Edge a->b as (origin x, origin y, dx, dy, sign), origin = the lower vertex index."""
    if ia > ib:
        return xb, yb, xa - xb, ya - yb, -orient
    return xa, ya, xb - xa, yb - ya, orient


@numba.njit(inline="always", **_JIT)
def _setup(verts, tris, t):
    """Edges opposite vertices 0, 1, 2 of triangle ``t``, oriented so the inside is >= 0."""
    i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
    x0, x1, x2 = np.float64(verts[i0, 0]), np.float64(verts[i1, 0]), np.float64(verts[i2, 0])
    y0, y1, y2 = np.float64(verts[i0, 1]), np.float64(verts[i1, 1]), np.float64(verts[i2, 1])
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    orient = np.float64(area > 0.0) - np.float64(area < 0.0)  # 0 for degenerate triangles
    return (_canonical_edge(i1, i2, x1, y1, x2, y2, orient),
            _canonical_edge(i2, i0, x2, y2, x0, y0, orient),
            _canonical_edge(i0, i1, x0, y0, x1, y1, orient))


@numba.njit(inline="always", **_JIT)
def _eval(edge, fx, fy):
    ox, oy, dx, dy, sign = edge
    return sign * (dx * (fy - oy) - dy * (fx - ox))


@numba.njit(**_JIT)
def _owns_tie(edge):
    """Top-left rule: does the edge keep pixel centres lying exactly on it?"""
    gx = -edge[4] * edge[3]  # d(edge)/dx > 0: the inside lies to the right of a "left" edge
    return gx > 0.0 or (gx == 0.0 and edge[4] * edge[2] > 0.0)  # or below a "top" edge


@numba.njit(inline="always", **_JIT)
def _coverage(edges, px, py):
    """(covered, e0, e1, e2) at pixel centre (px, py); e_k are unnormalised barycentrics."""
    fx, fy = np.float64(px), np.float64(py)
    e0, e1, e2 = _eval(edges[0], fx, fy), _eval(edges[1], fx, fy), _eval(edges[2], fx, fy)
    ok = (e0 >= 0.0) & (e1 >= 0.0) & (e2 >= 0.0) & (e0 + e1 + e2 > 0.0)
    if ok & ((e0 == 0.0) | (e1 == 0.0) | (e2 == 0.0)):  # rare: centre exactly on an edge
        ok = ((e0 != 0.0) | _owns_tie(edges[0])) & ((e1 != 0.0) | _owns_tie(edges[1])) & (
            (e2 != 0.0) | _owns_tie(edges[2]))
    return ok, e0, e1, e2


@numba.njit(inline="always", **_JIT)
def _bbox(verts, tris, t, wmax, hmax):
    """Float pixel-centre bounds (x_lo, x_hi, y_lo, y_hi) of triangle ``t``, clipped."""
    i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
    x0, x1, x2 = verts[i0, 0], verts[i1, 0], verts[i2, 0]
    y0, y1, y2 = verts[i0, 1], verts[i1, 1], verts[i2, 1]
    return (max(np.ceil(min(x0, min(x1, x2))), np.float32(0.0)),
            min(np.floor(max(x0, max(x1, x2))), wmax),
            max(np.ceil(min(y0, min(y1, y2))), np.float32(0.0)),
            min(np.floor(max(y0, max(y1, y2))), hmax))


@numba.njit(inline="always", **_JIT)
def _resolve(frag_pix, frag_z, frag_t, n, depth_flat, tri_flat):
    """Depth-test the first ``n`` fragments in order (strictly nearer wins)."""
    for k in range(n):
        p, z = frag_pix[k], frag_z[k]
        d = depth_flat[p]
        win = z > d
        depth_flat[p] = z if win else d
        tri_flat[p] = frag_t[k] if win else tri_flat[p]


@numba.njit(**_JIT)
def zbuffer(verts, tris, depth, tri_id):
    """Fill ``depth`` (H, W) float32 and ``tri_id`` (H, W) int32; the largest z wins.

    Pass 1 keeps the triangles whose bounding box holds a pixel centre (branch-free; most
    BFM triangles at 120 px hold none).  Pass 2 turns them into fragments (pixel, z,
    triangle) without reading the z-buffer (avoiding store-to-load stalls between
    neighbouring triangles), depth-tested in batches.  Equal depths keep the first drawn.
    """
    h, w = depth.shape
    depth_flat, tri_flat = depth.reshape(h * w), tri_id.reshape(h * w)
    depth_flat[:], tri_flat[:] = -np.inf, -1
    wmax, hmax = np.float32(w - 1), np.float32(h - 1)
    candidates = np.empty(tris.shape[0], np.int32)
    n = 0
    for t in range(tris.shape[0]):
        xlo, xhi, ylo, yhi = _bbox(verts, tris, t, wmax, hmax)
        candidates[n] = t
        n += (xlo <= xhi) & (ylo <= yhi)  # False for NaN too
    cap = max(8192, w)
    frag_pix, frag_z, frag_t = np.empty(cap, np.int32), np.empty(cap, np.float32), np.empty(
        cap, np.int32)
    nf = 0
    for k in range(n):
        t = candidates[k]
        fxlo, fxhi, fylo, fyhi = _bbox(verts, tris, t, wmax, hmax)
        xlo, xhi, ylo, yhi = int(fxlo), int(fxhi), int(fylo), int(fyhi)
        edges = _setup(verts, tris, t)
        z0, z1, z2 = verts[tris[t, 0], 2], verts[tris[t, 1], 2], verts[tris[t, 2], 2]
        if nf + (xhi - xlo + 1) * (yhi - ylo + 1) > cap:
            _resolve(frag_pix, frag_z, frag_t, nf, depth_flat, tri_flat)
            nf = 0
        if (xlo == xhi) & (ylo == yhi):  # the common case for dense meshes
            ok, e0, e1, e2 = _coverage(edges, xlo, ylo)
            frag_pix[nf] = ylo * w + xlo
            frag_z[nf] = np.float32((e0 * z0 + e1 * z1 + e2 * z2) / (e0 + e1 + e2))
            frag_t[nf] = t
            nf += ok
            continue
        for py in range(ylo, yhi + 1):
            if nf + (xhi - xlo + 1) > cap:
                _resolve(frag_pix, frag_z, frag_t, nf, depth_flat, tri_flat)
                nf = 0
            for px in range(xlo, xhi + 1):  # branch-free; uncovered centres get z = -inf
                ok, e0, e1, e2 = _coverage(edges, px, py)
                z = np.float32((e0 * z0 + e1 * z1 + e2 * z2) / (e0 + e1 + e2))
                frag_pix[nf] = py * w + px
                frag_z[nf] = z if ok else np.float32(-np.inf)
                frag_t[nf] = t
                nf += 1
    _resolve(frag_pix, frag_z, frag_t, nf, depth_flat, tri_flat)


@numba.njit(inline="always", **_JIT)
def _weights(verts, tris, t, py, px):
    """Barycentric weights (float64) of triangle ``t`` at pixel centre (px, py)."""
    edges = _setup(verts, tris, t)
    fx, fy = np.float64(px), np.float64(py)
    e0, e1, e2 = _eval(edges[0], fx, fy), _eval(edges[1], fx, fy), _eval(edges[2], fx, fy)
    s = e0 + e1 + e2
    if s == 0.0:
        return 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0
    inv = 1.0 / s
    return e0 * inv, e1 * inv, e2 * inv


@numba.njit(**_JIT)
def barycentric(verts, tris, tri_id, bary):
    """Fill ``bary`` (H, W, 3) for the triangles in ``tri_id`` (H, W); zeros where -1."""
    bary[:] = 0.0
    for py in range(tri_id.shape[0]):
        for px in range(tri_id.shape[1]):
            if tri_id[py, px] >= 0:
                bary[py, px] = _weights(verts, tris, tri_id[py, px], py, px)


@numba.njit(inline="always", **_JIT)
def _mix(tris, t, b0, b1, b2, attrs, out, py, px):
    """``out[py, px]`` = weights (b0, b1, b2) of ``attrs`` (N, C) at triangle ``t``'s vertices."""
    i0, i1, i2 = tris[t, 0], tris[t, 1], tris[t, 2]
    for c in range(attrs.shape[1]):
        out[py, px, c] = b0 * attrs[i0, c] + b1 * attrs[i1, c] + b2 * attrs[i2, c]


@numba.njit(**_JIT)
def interpolate_bary(tris, tri_id, bary, attrs, out):
    """``out`` (H, W, C) = barycentric mix of ``attrs`` (N, C); zeros where empty."""
    out[:] = 0.0
    for py in range(tri_id.shape[0]):
        for px in range(tri_id.shape[1]):
            if tri_id[py, px] >= 0:
                _mix(tris, tri_id[py, px], bary[py, px, 0], bary[py, px, 1], bary[py, px, 2],
                     attrs, out, py, px)


@numba.njit(**_JIT)
def interpolate_direct(verts, tris, tri_id, attrs, out):
    """Like :func:`interpolate_bary` but computing the weights on the fly from ``verts``."""
    out[:] = 0.0
    for py in range(tri_id.shape[0]):
        for px in range(tri_id.shape[1]):
            t = tri_id[py, px]
            if t >= 0:
                b0, b1, b2 = _weights(verts, tris, t, py, px)
                _mix(tris, t, b0, b1, b2, attrs, out, py, px)


@numba.njit(**_JIT)
def visibility(verts, depth, tol, visible):
    """``visible`` (N,) bool, see :func:`facegeom.rasterize.vertex_visibility`."""
    h, w = depth.shape
    for v in range(verts.shape[0]):
        x, y, z = verts[v, 0], verts[v, 1], verts[v, 2]
        visible[v] = False
        if not (-0.5 <= x < w - 0.5 and -0.5 <= y < h - 0.5):
            continue
        j0, i0 = int(np.floor(x)), int(np.floor(y))
        covered = False
        for i in range(max(i0, 0), min(i0 + 1, h - 1) + 1):
            for j in range(max(j0, 0), min(j0 + 1, w - 1) + 1):
                d = depth[i, j]
                covered |= d != -np.inf
                visible[v] |= (d != -np.inf) & (z + tol >= d)
        visible[v] |= not covered


@numba.njit(**_JIT)
def project(verts, rot, tx, ty, out):
    """``out`` (N, 3) float32 = weak-perspective projection with ``rot`` = f * R (3, 3)."""
    for v in range(verts.shape[0]):
        x, y, z = verts[v, 0], verts[v, 1], verts[v, 2]
        out[v, 0] = rot[0, 0] * x + rot[0, 1] * y + rot[0, 2] * z + tx
        out[v, 1] = -(rot[1, 0] * x + rot[1, 1] * y + rot[1, 2] * z) + ty
        out[v, 2] = rot[2, 0] * x + rot[2, 1] * y + rot[2, 2] * z


@numba.njit(cache=True, nogil=True, parallel=True)
def rasterize_batch(verts, tris, depth, tri_id, bary):
    """:func:`zbuffer` + :func:`barycentric` for (B, N, 3) vertices, images in parallel."""
    for b in numba.prange(verts.shape[0]):
        zbuffer(verts[b], tris, depth[b], tri_id[b])
        barycentric(verts[b], tris, tri_id[b], bary[b])


@numba.njit(**_JIT)
def render(verts, tris, colors, depth, tri_id, out):
    """Z-buffer, then ``out`` (H, W, C) = interpolated ``colors`` clipped to [0, 1]."""
    zbuffer(verts, tris, depth, tri_id)
    interpolate_direct(verts, tris, tri_id, colors, out)
    np.clip(out, np.float32(0.0), np.float32(1.0), out)


@numba.njit(**_JIT)
def render_pose(model_verts, rot, tx, ty, tris, colors, projected, depth, tri_id, out):
    """:func:`project` into ``projected`` (N, 3), then :func:`render`."""
    project(model_verts, rot, tx, ty, projected)
    render(projected, tris, colors, depth, tri_id, out)


@numba.njit(cache=True, nogil=True, fastmath=True)
def project_linear(mean, basis, coeffs, rot, shift, out):
    """``out`` (B, N, 3) float32 = weak-perspective projection of ``mean + basis @ coeffs[b]``.

    ``mean`` (N, 3) float32, ``basis`` (3N, K) float32 (xyz interleaved rows), ``coeffs``
    (B, K) float32, ``rot`` (B, 3, 3) float64 ``f * R``, ``shift`` (B, 2) float64 ``(tx, ty)``.
    Each basis row is read once for the whole batch; shapes accumulate in float32 (any order:
    this kernel alone may reassociate), the projection runs in float64 as
    :func:`facegeom.camera.project`.
    """
    nb, n, k_max = coeffs.shape[0], mean.shape[0], basis.shape[1]
    shape = np.empty((nb, 3), np.float32)
    for v in range(n):
        for a in range(3):
            row = basis[3 * v + a]
            for b in range(nb):
                acc = np.float32(0.0)
                for k in range(k_max):
                    acc += row[k] * coeffs[b, k]
                shape[b, a] = mean[v, a] + acc
        for b in range(nb):
            x, y, z = np.float64(shape[b, 0]), np.float64(shape[b, 1]), np.float64(shape[b, 2])
            out[b, v, 0] = rot[b, 0, 0] * x + rot[b, 0, 1] * y + rot[b, 0, 2] * z + shift[b, 0]
            out[b, v, 1] = -(rot[b, 1, 0] * x + rot[b, 1, 1] * y + rot[b, 1, 2] * z) + shift[b, 1]
            out[b, v, 2] = rot[b, 2, 0] * x + rot[b, 2, 1] * y + rot[b, 2, 2] * z
