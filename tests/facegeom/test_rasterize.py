"""Specification of the z-buffer rasteriser (image x right, y down, larger z nearer)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from facegeom.camera import rotation_matrix
from facegeom.rasterize import (
    interpolate,
    rasterize,
    rasterize_batch,
    vertex_visibility,
)


def uv_sphere(n_lat: int = 12, n_lon: int = 24) -> tuple[np.ndarray, np.ndarray]:
    """A closed unit sphere: (N, 3) float32 vertices, (T, 3) int32 triangles."""
    rings = [
        (np.sin(th) * np.cos(ph), np.cos(th), np.sin(th) * np.sin(ph))
        for th in np.linspace(0, np.pi, n_lat + 1)[1:-1]
        for ph in np.linspace(0, 2 * np.pi, n_lon, endpoint=False)
    ]
    verts = np.array([(0, 1, 0), *rings, (0, -1, 0)], np.float32)
    ring = lambda r, k: 1 + r * n_lon + k % n_lon  # noqa: E731
    tris = [(0, ring(0, k + 1), ring(0, k)) for k in range(n_lon)]
    for r in range(n_lat - 2):
        for k in range(n_lon):
            a, b, c, d = ring(r, k), ring(r, k + 1), ring(r + 1, k), ring(r + 1, k + 1)
            tris += [(a, b, d), (a, d, c)]
    south = len(verts) - 1
    tris += [(south, ring(n_lat - 2, k), ring(n_lat - 2, k + 1)) for k in range(n_lon)]
    return verts, np.array(tris, np.int32)


def sphere_in_image(size: int = 32, radius: float = 12.0, angles=(0.3, -0.5, 0.2)) -> np.ndarray:
    """The unit sphere rotated, scaled to ``radius`` px and centred in a size x size image."""
    verts, _ = uv_sphere()
    p = radius * verts @ rotation_matrix(*angles).T.astype(np.float32)
    c = (size - 1) / 2
    return np.stack([p[:, 0] + c, -p[:, 1] + c, p[:, 2]], 1).astype(np.float32)


def covered_exactly(tri: np.ndarray, h: int, w: int) -> np.ndarray:
    """Reference coverage with exact rational arithmetic (strict interior only)."""
    (x0, y0), (x1, y1), (x2, y2) = [(Fraction(float(x)), Fraction(float(y))) for x, y in tri]
    out = np.zeros((h, w), bool)
    for i in range(h):
        for j in range(w):
            e = [(xb - xa) * (i - ya) - (yb - ya) * (j - xa)
                 for (xa, ya), (xb, yb) in [((x1, y1), (x2, y2)), ((x2, y2), (x0, y0)),
                                            ((x0, y0), (x1, y1))]]
            out[i, j] = all(v > 0 for v in e) or all(v < 0 for v in e)
    return out


@pytest.mark.parametrize("flip", [False, True])
def test_single_triangle_covers_exactly_the_pixel_centres_inside(flip: bool) -> None:
    tri = np.array([[0.3, 0.2, 1.0], [6.6, 0.4, 1.0], [0.1, 6.7, 1.0]], np.float32)
    if flip:  # the other winding: rasterisation is two-sided
        tri = tri[::-1].copy()
    r = rasterize(tri, np.array([[0, 1, 2]]), 9, 10)
    expected = covered_exactly(tri[:, :2], 9, 10)
    assert expected.sum() > 10
    np.testing.assert_array_equal(r.triangle >= 0, expected)
    np.testing.assert_array_equal(r.depth[expected], 1.0)
    assert np.all(r.depth[~expected] == -np.inf) and np.all(r.bary[~expected] == 0)


def test_square_split_on_diagonal_follows_top_left_rule_without_overlap() -> None:
    # integer corners: pixel centres lie exactly on the edges and on the shared diagonal
    verts = np.array([[1, 1, 0], [5, 1, 0], [5, 5, 0], [1, 5, 0]], np.float32)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    a = rasterize(verts, tris[:1], 8, 8).triangle >= 0
    b = rasterize(verts, tris[1:], 8, 8).triangle >= 0
    assert not np.any(a & b)
    expected = np.zeros((8, 8), bool)
    expected[1:5, 1:5] = True  # left and top edges included, right and bottom excluded
    np.testing.assert_array_equal(a | b, expected)


@pytest.mark.parametrize("jitter", [0.0, 0.37])
def test_grid_mesh_covers_every_inner_pixel_exactly_once(jitter: float) -> None:
    rng = np.random.default_rng(0)
    n = 7
    gy, gx = np.mgrid[0:n, 0:n].astype(np.float32) * 2.0 + 1.0
    inner = (gx > 1) & (gx < 2 * n - 1) & (gy > 1) & (gy < 2 * n - 1)
    gx[inner] += rng.uniform(-jitter, jitter, inner.sum())
    gy[inner] += rng.uniform(-jitter, jitter, inner.sum())
    verts = np.stack([gx.ravel(), gy.ravel(), np.zeros(n * n)], 1).astype(np.float32)
    idx = np.arange(n * n).reshape(n, n)
    quads = np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:], idx[1:, :-1]], -1).reshape(-1, 4)
    tris = np.concatenate([quads[:, [0, 1, 2]], quads[:, [0, 2, 3]]])
    count = sum((rasterize(verts, t[None], 16, 16).triangle >= 0).astype(int) for t in tris)
    expected = np.zeros((16, 16), int)
    expected[1:2 * n - 1, 1:2 * n - 1] = 1
    np.testing.assert_array_equal(count, expected)
    np.testing.assert_array_equal(rasterize(verts, tris, 16, 16).triangle >= 0, expected == 1)


def reference_zbuffer(verts: np.ndarray, tris: np.ndarray, h: int, w: int):
    """Brute force: every triangle against every pixel centre, in draw order (float64)."""
    depth, tri_id = np.full((h, w), -np.inf), np.full((h, w), -1)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    for t, (a, b, c) in enumerate(verts[tris].astype(np.float64)):
        e = [(q[0] - p[0]) * (yy - p[1]) - (q[1] - p[1]) * (xx - p[0])
             for p, q in [(b, c), (c, a), (a, b)]]
        inside = ((e[0] > 0) & (e[1] > 0) & (e[2] > 0)) | ((e[0] < 0) & (e[1] < 0) & (e[2] < 0))
        z = (e[0] * a[2] + e[1] * b[2] + e[2] * c[2]) / (e[0] + e[1] + e[2])
        win = inside & (z > depth)
        depth[win], tri_id[win] = z[win], t
    return depth, tri_id


def test_random_triangles_match_a_brute_force_reference() -> None:
    # large overlapping triangles (many more fragments than one batch) and tiny ones
    rng = np.random.default_rng(3)
    big = rng.uniform([-20, -20, 0], [110, 110, 50], (3 * 40, 3))
    small = np.repeat(rng.uniform([0, 0, 0], [90, 90, 50], (200, 3)), 3, 0)
    small += rng.normal(0, [0.8, 0.8, 0.0], small.shape)
    verts = np.concatenate([big, small]).astype(np.float32)
    tris = np.arange(len(verts)).reshape(-1, 3)
    r = rasterize(verts, tris, 90, 96)
    depth, tri_id = reference_zbuffer(verts, tris, 90, 96)
    np.testing.assert_array_equal(r.triangle, tri_id)
    np.testing.assert_allclose(r.depth, depth, rtol=1e-5)


def test_nearer_triangle_wins_regardless_of_draw_order() -> None:
    far = [[0, 0, 1.0], [9, 0, 1.0], [0, 9, 1.0]]
    near = [[2, 2, 5.0], [9, 2, 5.0], [2, 9, 5.0]]
    verts = np.array(far + near, np.float32)
    for order in ([0, 1], [1, 0]):
        tris = np.array([[0, 1, 2], [3, 4, 5]])[order]
        r = rasterize(verts, tris, 10, 10)
        near_id = order.index(1)
        assert r.triangle[3, 3] == near_id and r.depth[3, 3] == 5.0
        assert r.triangle[1, 1] == 1 - near_id and r.depth[1, 1] == 1.0


def test_barycentrics_sum_to_one_and_reproduce_the_pixel_centre() -> None:
    verts = sphere_in_image()
    tris = uv_sphere()[1]
    r = rasterize(verts, tris, 32, 32)
    mask = r.mask
    np.testing.assert_allclose(r.bary.sum(-1)[mask], 1.0, atol=1e-5)
    assert r.bary[mask].min() >= 0.0
    xy = interpolate(r, tris, verts[:, :2])
    ii, jj = np.nonzero(mask)
    np.testing.assert_allclose(xy[ii, jj, 0], jj, atol=1e-3)
    np.testing.assert_allclose(xy[ii, jj, 1], ii, atol=1e-3)
    np.testing.assert_allclose(interpolate(r, tris, verts[:, 2:])[..., 0][mask], r.depth[mask],
                               atol=1e-4)


def test_interpolating_a_constant_gives_the_constant_on_the_face_and_zero_elsewhere() -> None:
    verts, tris = sphere_in_image(), uv_sphere()[1]
    r = rasterize(verts, tris, 32, 32)
    out = interpolate(r, tris, np.tile(np.float32([0.25, 7.0]), (len(verts), 1)))
    assert out.shape == (32, 32, 2) and out.dtype == np.float32
    np.testing.assert_allclose(out[r.mask], [[0.25, 7.0]] * r.mask.sum(), rtol=1e-6)
    assert np.all(out[~r.mask] == 0)


@pytest.mark.parametrize("angles", [(0.0, 0.0, 0.0), (0.3, -0.5, 0.2), (1.2, 0.7, -2.0)])
def test_closed_sphere_has_no_holes_inside_its_silhouette(angles) -> None:
    r = rasterize(sphere_in_image(angles=angles), uv_sphere()[1], 32, 32)
    ii, jj = np.mgrid[0:32, 0:32]
    dist = np.hypot(ii - 15.5, jj - 15.5)
    assert np.all(r.mask[dist < 12.0 * 0.95]) and not np.any(r.mask[dist > 12.5])
    assert np.all(r.depth[dist < 11.0] > 0)  # the front half is what shows


def test_front_of_a_sphere_is_visible_and_back_is_not() -> None:
    verts = sphere_in_image(size=64, radius=25.0)
    vis = vertex_visibility(verts, rasterize(verts, uv_sphere()[1], 64, 64))
    z = verts[:, 2] / 25.0
    assert np.all(vis[z > 0.2]) and not np.any(vis[z < -0.2])


def test_every_vertex_of_a_flat_mesh_facing_the_camera_is_visible() -> None:
    gy, gx = np.mgrid[0:6, 0:6].astype(np.float32) * 2.3 + 0.6
    verts = np.stack([gx.ravel(), gy.ravel(), np.full(36, 3.7)], 1).astype(np.float32)
    idx = np.arange(36).reshape(6, 6)
    tris = np.concatenate([np.stack([idx[:-1, :-1], idx[:-1, 1:], idx[1:, 1:]], -1),
                           np.stack([idx[:-1, :-1], idx[1:, 1:], idx[1:, :-1]], -1)]).reshape(-1, 3)
    assert vertex_visibility(verts, rasterize(verts, tris, 14, 14)).all()


def test_vertices_outside_the_image_are_not_visible() -> None:
    verts = sphere_in_image(size=32, radius=12.0) + np.float32([20.0, -6.0, 0.0])
    vis = vertex_visibility(verts, rasterize(verts, uv_sphere()[1], 32, 32))
    outside = (verts[:, 0] >= 31.5) | (verts[:, 1] < -0.5)
    assert outside.any() and not np.any(vis[outside])
    assert np.any(vis[~outside])


def test_batch_equals_a_loop_over_images() -> None:
    tris = uv_sphere()[1]
    batch = np.stack([sphere_in_image(angles=(0.1 * k, -0.4 * k, 0.3)) for k in range(4)])
    r = rasterize_batch(batch, tris, 32, 32)
    colors = np.random.default_rng(1).random((4, batch.shape[1], 3), dtype=np.float32)
    out = interpolate(r, tris, colors)
    for b in range(4):
        one = rasterize(batch[b], tris, 32, 32)
        np.testing.assert_array_equal(r.depth[b], one.depth)
        np.testing.assert_array_equal(r.triangle[b], one.triangle)
        np.testing.assert_array_equal(r.bary[b], one.bary)
        np.testing.assert_array_equal(out[b], interpolate(one, tris, colors[b]))


def test_triangles_partly_outside_or_invalid_are_clipped_or_skipped() -> None:
    verts = np.array([[-50, -50, 1], [100, -50, 1], [-50, 100, 1],
                      [np.nan, 1, 2], [3, 3, 2], [1, 5, 2]], np.float32)
    r = rasterize(verts, np.array([[0, 1, 2], [3, 4, 5]]), 6, 7)
    assert r.mask.all() and np.all(r.triangle == 0)
    with pytest.raises(ValueError):
        rasterize(verts, np.array([[0, 1, 6]]), 6, 7)
