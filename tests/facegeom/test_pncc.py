"""Specification of the NCC / PNCC maps."""

from __future__ import annotations

import numpy as np
import pytest

from facegeom.camera import project
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import join, project_params
from facegeom.pncc import ncc, render_pncc, render_pncc_params, render_pncc_pose
from facegeom.rasterize import interpolate, rasterize


def tiny_model(n_lat: int = 10, n_lon: int = 20) -> MorphableModel:
    """A 'face' that is an ellipsoid (closed), with 3 identity and 2 expression components."""
    th, ph = np.meshgrid(np.linspace(0.05, np.pi - 0.05, n_lat), np.linspace(0, 2 * np.pi, n_lon,
                                                                             endpoint=False))
    mean = np.stack([40 * np.sin(th) * np.cos(ph), 55 * np.cos(th), 30 * np.sin(th) * np.sin(ph)],
                    -1).reshape(-1, 3).astype(np.float32)
    idx = np.arange(n_lat * n_lon).reshape(n_lon, n_lat)
    nxt = np.roll(idx, -1, axis=0)
    a, b, c, d = idx[:, :-1], nxt[:, :-1], idx[:, 1:], nxt[:, 1:]
    tris = np.concatenate([np.stack([a, b, d], -1), np.stack([a, d, c], -1)]).reshape(-1, 3)
    rng = np.random.default_rng(0)
    n = len(mean)
    return MorphableModel(
        mean=mean, id_basis=rng.normal(0, 1, (3 * n, 3)).astype(np.float32),
        id_std=np.ones(3, np.float32), exp_basis=rng.normal(0, 1, (3 * n, 2)).astype(np.float32),
        exp_std=np.ones(2, np.float32), triangles=tris.astype(np.int32),
        landmarks=np.arange(68, dtype=np.int64) % n, name="tiny",
    )


POSE = np.array([0.5, 0.2, -0.6, 0.1, 32.0, 30.0])


def test_ncc_spans_zero_to_one_on_every_axis() -> None:
    code = ncc(tiny_model())
    assert code.shape == (200, 3) and code.dtype == np.float32
    np.testing.assert_allclose(code.min(0), 0.0)
    np.testing.assert_allclose(code.max(0), 1.0)


def test_pncc_is_zero_on_background_and_within_unit_range_on_the_face() -> None:
    model = tiny_model()
    verts = project(POSE, model.mean)
    img = render_pncc(verts, model.triangles, ncc(model), 64, 64)
    mask = rasterize(verts, model.triangles, 64, 64).mask
    assert img.shape == (64, 64, 3) and img.dtype == np.float32
    assert 500 < mask.sum() < 64 * 64 - 500
    assert np.all(img[~mask] == 0)
    assert img[mask].min() >= 0 and img[mask].max() <= 1 and img[mask].max() > 0.5


def test_pncc_equals_interpolating_the_ncc_with_the_raster() -> None:
    model = tiny_model()
    verts = project(POSE, model.mean)
    img = render_pncc(verts, model.triangles, ncc(model), 64, 64)
    ref = interpolate(rasterize(verts, model.triangles, 64, 64), model.triangles, ncc(model))
    np.testing.assert_allclose(img, ref, atol=1e-5)


def test_nearer_side_shows_larger_ncc_depth() -> None:
    model = tiny_model()  # frontal: the camera sees the z > 0 half, whose NCC blue is > 0.5
    img = render_pncc(project(np.array([0.5, 0, 0, 0, 32, 32]), model.mean), model.triangles,
                      ncc(model), 64, 64)
    assert img[28:36, 28:36, 2].min() > 0.9


@pytest.mark.parametrize("with_shape", [False, True])
def test_params_render_matches_projecting_then_rendering(with_shape: bool) -> None:
    model = tiny_model()
    a_id = np.float32([0.5, -1.0, 0.3]) if with_shape else np.zeros(3, np.float32)
    a_exp = np.float32([1.0, 0.2]) if with_shape else np.zeros(2, np.float32)
    params = join(POSE, a_id, a_exp)
    img = render_pncc_params(params, model, 64, 64)
    ref = render_pncc(project_params(params, model), model.triangles, ncc(model), 64, 64)
    # float32 vs float64 projection: only pixel centres within rounding of an edge may differ
    differ = np.any(np.abs(img - ref) > 1e-3, axis=-1)
    assert differ.sum() <= 2
    pose_img = render_pncc_pose(params[:6], model.vertices(a_id, a_exp), model.triangles,
                                ncc(model), 64, 64)
    np.testing.assert_array_equal(img, pose_img)


def test_bad_colour_shape_is_rejected() -> None:
    model = tiny_model()
    with pytest.raises(ValueError):
        render_pncc(project(POSE, model.mean), model.triangles, np.zeros((3, 3)), 8, 8)


def test_linear_model_projection_equals_shape_then_camera_projection():
    from facegeom.pncc import project_linear_model

    rng = np.random.default_rng(4)
    n, k = 50, 7
    mean = rng.normal(size=(n, 3)).astype(np.float32) * 40
    basis = rng.normal(size=(3 * n, k)).astype(np.float32)
    coeffs = rng.normal(size=(3, k))
    poses = np.array([[0.8, 0.1, 0.6, -0.2, 30.0, 40.0], [1.2, -0.3, -1.2, 0.1, 5.0, 9.0],
                      [0.5, 0.0, 0.0, 0.0, 0.0, 0.0]])
    got = project_linear_model(mean, basis, coeffs, poses)
    for b in range(3):
        shape = mean + (basis @ coeffs[b].astype(np.float32)).reshape(n, 3)
        np.testing.assert_allclose(got[b], project(poses[b], shape), atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="do not fit"):
        project_linear_model(mean, basis[:-3], coeffs, poses)
