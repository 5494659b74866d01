"""The 3DDFA pieces as a mesh: exact at the 68 landmarks, linear in between, BFM-file round trip."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from facegeom.landmark_mesh import landmark_mesh
from facegeom.model_files import load_3ddfa_landmark_model, load_bfm_mat, save_bfm_mat

SHARED = Path(os.environ.get("FACEALIGN_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared"))
BFM_3DDFA = SHARED / "data" / "models" / "bfm_3ddfa"


def test_the_mesh_is_the_model_at_its_landmarks_and_midpoints_between(head_model):
    mesh = landmark_mesh(head_model, levels=1)
    rng = np.random.default_rng(0)
    a_id, a_exp = rng.standard_normal(head_model.n_id), rng.standard_normal(head_model.n_exp)
    full = head_model.vertices(a_id, a_exp)[head_model.landmarks]
    shape = mesh.vertices(a_id, a_exp)
    np.testing.assert_allclose(shape[:68], full, rtol=1e-4, atol=1e-3)
    # every new vertex is the midpoint of two landmarks, for any coefficients
    tri = mesh.triangles
    assert mesh.n_vertices > 68 and tri.max() == mesh.n_vertices - 1
    for v in range(68, mesh.n_vertices, 17):
        corners = tri[(tri == v).any(1)]
        pairs = [(a, b) for a in range(68) for b in range(a + 1, 68)
                 if np.allclose(mesh.mean[v], (mesh.mean[a] + mesh.mean[b]) / 2, atol=1e-4)]
        assert pairs and corners.size
        a, b = pairs[0]
        np.testing.assert_allclose(shape[v], (shape[a] + shape[b]) / 2, rtol=1e-4, atol=1e-3)


def test_triangles_face_the_camera_in_the_frontal_view(head_model):
    mesh = landmark_mesh(head_model, levels=2)
    p = mesh.mean[mesh.triangles][..., :2].astype(np.float64)
    e1, e2 = p[:, 1] - p[:, 0], p[:, 2] - p[:, 0]
    cross = e1[:, 0] * e2[:, 1] - e1[:, 1] * e2[:, 0]
    assert np.all(cross >= -1e-9)


@pytest.mark.skipif(not BFM_3DDFA.is_dir(), reason=f"{BFM_3DDFA} not found")
def test_the_3ddfa_mesh_round_trips_through_the_bfm_layout(tmp_path):
    mesh = landmark_mesh(load_3ddfa_landmark_model(BFM_3DDFA))
    back = load_bfm_mat(save_bfm_mat(mesh, tmp_path / "BFM.mat"))
    assert (back.n_id, back.n_exp, back.n_vertices) == (40, 10, mesh.n_vertices)
    np.testing.assert_allclose(back.mean, mesh.mean)
    np.testing.assert_allclose(back.id_basis, mesh.id_basis)
    np.testing.assert_allclose(back.exp_std, mesh.exp_std)
    np.testing.assert_array_equal(back.triangles, mesh.triangles)
    np.testing.assert_array_equal(back.landmarks, np.arange(68))
