"""The embedded procedural face model: sizes, determinism, bases, landmarks, mesh, files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params
from facegeom.procedural_face import build_procedural_model

N_NAMED_ID, N_NAMED_EXP = 20, 22  # named components before the random ones


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return build_procedural_model()


def _triangle_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    p = vertices[triangles]
    return np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])


def _displacement(basis: np.ndarray, k: int) -> np.ndarray:
    """(N,) length of each vertex's displacement in component k."""
    return np.linalg.norm(basis[:, k].reshape(-1, 3), axis=1)


def test_default_model_has_the_documented_sizes(model: MorphableModel) -> None:
    assert (model.n_id, model.n_exp) == (199, 29)
    assert n_params(model) == 234
    assert 3000 <= model.n_vertices <= 6000
    assert model.mean.dtype == np.float32 and model.id_basis.dtype == np.float32
    assert model.triangles.dtype == np.int32 and model.landmarks.dtype == np.int64
    assert model.name == "procedural"


def test_millimetre_head_centred_near_the_origin(model: MorphableModel) -> None:
    jaw = model.mean[model.landmarks[:17]]
    assert 130.0 < jaw[16, 0] - jaw[0, 0] < 160.0  # face width
    lo, hi = model.mean.min(0), model.mean.max(0)
    assert abs(lo[0] + hi[0]) < 1e-3 and abs(lo[1] + hi[1]) < 60.0
    assert 200.0 < hi[1] - lo[1] < 260.0  # chin to crown
    side = model.mean[np.abs(model.mean[:, 2]) < 10.0]  # the head's sides pass the origin...
    assert 65.0 < np.abs(side[np.abs(side[:, 1]) < 20.0, 0]).max() < 90.0
    assert 90.0 < model.mean[model.landmarks[30], 2] < 130.0  # ...the nose tip is in front
    assert lo[2] < -20.0  # and the surface wraps around the sides behind the origin


def test_same_seed_same_model_and_seed_only_moves_random_components() -> None:
    a = build_procedural_model(n_id=25, n_exp=24, resolution=16, seed=0)
    b = build_procedural_model(n_id=25, n_exp=24, resolution=16, seed=0)
    c = build_procedural_model(n_id=25, n_exp=24, resolution=16, seed=1)
    for name in ("mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "landmarks",
                 "contour_left", "contour_right"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    np.testing.assert_array_equal(a.mean, c.mean)
    np.testing.assert_array_equal(a.landmarks, c.landmarks)
    np.testing.assert_allclose(a.id_basis[:, :N_NAMED_ID], c.id_basis[:, :N_NAMED_ID], atol=1e-6)
    assert not np.allclose(a.id_basis[:, N_NAMED_ID:], c.id_basis[:, N_NAMED_ID:], atol=1e-3)
    assert not np.allclose(a.exp_basis[:, N_NAMED_EXP:], c.exp_basis[:, N_NAMED_EXP:], atol=1e-3)


@pytest.mark.parametrize("n_id, n_exp", [(1, 1), (3, 2), (25, 23)])
def test_any_component_counts(n_id: int, n_exp: int) -> None:
    m = build_procedural_model(n_id=n_id, n_exp=n_exp, resolution=16)
    assert (m.n_id, m.n_exp) == (n_id, n_exp)
    assert m.id_basis.shape == (3 * m.n_vertices, n_id)
    assert np.all(np.isfinite(m.id_basis)) and np.all(np.isfinite(m.exp_basis))


def test_rejects_empty_bases() -> None:
    with pytest.raises(ValueError, match="n_id"):
        build_procedural_model(n_id=0)


def test_bases_are_orthonormal_with_strictly_decreasing_std(model: MorphableModel) -> None:
    for basis, std in ((model.id_basis, model.id_std), (model.exp_basis, model.exp_std)):
        gram = basis.T.astype(np.float64) @ basis
        np.testing.assert_allclose(gram, np.eye(basis.shape[1]), atol=1e-4)
        assert np.all(std > 0) and np.all(np.diff(std) < 0)


def test_named_identity_components_are_a_few_millimetres(model: MorphableModel) -> None:
    sizes = [model.id_std[k] * _displacement(model.id_basis, k).max() for k in range(model.n_id)]
    assert all(0.4 <= s <= 7.0 for s in sizes[:N_NAMED_ID])  # calibrated to real faces
    assert all(s < 1.5 for s in sizes[N_NAMED_ID:])


def test_frontal_landmark_layout_is_ibug(model: MorphableModel) -> None:
    p = model.mean[model.landmarks]
    x, y = p[:, 0], p[:, 1]
    assert np.all(np.diff(x[:17]) > 0)  # jaw from image left to image right
    assert np.all(np.diff(y[:9]) < 0) and np.all(np.diff(y[8:17]) > 0)  # down to the chin, up
    assert np.argmax(p[:, 2]) == 30  # nose tip nearest the camera
    assert np.all(np.diff(y[27:31]) < 0) and np.allclose(x[27:31], 0.0, atol=1e-4)
    assert y[36:48].mean() > y[30] > y[48:68].max()  # eyes above nose tip above mouth
    assert y[17:27].min() > y[36:48].max()  # brows above eyes
    assert np.all(x[36:42] < 0) and np.all(x[42:48] > 0)  # 36-41: image-left eye
    assert np.all(np.diff(x[17:27]) > 0)
    np.testing.assert_allclose([x[48], y[48]], [-x[54], y[54]], atol=0.5)  # mouth corners
    assert y[51] > y[62] > y[66] > y[57]  # upper lip, lip contact, lower lip
    assert len(set(model.landmarks[[61, 62, 63, 65, 66, 67]].tolist())) == 6
    mirror = [16 - k for k in range(17)]
    np.testing.assert_allclose(x[:17], -x[mirror], atol=1e-3)
    # Proportions of the iBUG mean shape (face width normalised).
    width = x[16] - x[0]
    assert 0.55 < (x[45] - x[36]) / width < 0.68  # outer eye corners
    assert 0.28 < (x[54] - x[48]) / width < 0.42  # mouth
    eyes, chin = y[[36, 39, 42, 45]].mean(), y[8]
    assert 0.25 < (eyes - y[30]) / (eyes - chin) < 0.36  # nose tip
    assert 0.5 < (eyes - y[[48, 54]].mean()) / (eyes - chin) < 0.66  # mouth corners


def test_jaw_ends_sit_at_eye_level_on_the_side_of_the_face(model: MorphableModel) -> None:
    p = model.mean[model.landmarks]
    eye_level = p[[36, 45], 1].mean()
    for k in (0, 16):
        assert abs(p[k, 1] - eye_level) < 15.0
        band = np.abs(model.mean[:, 1] - p[k, 1]) < 3.0
        widest = np.abs(model.mean[band & (model.mean[:, 2] > p[k, 2]), 0]).max()
        assert abs(p[k, 0]) >= widest - 3.0  # on the frontal silhouette...
        assert p[k, 2] > model.mean[:, 2].min() + 40.0  # ...not behind the head
        assert p[k, 2] < p[30, 2] - 80.0  # ...but well behind the face


def test_contour_candidates_are_side_bands_holding_the_jaw_points(model: MorphableModel) -> None:
    left, right = model.contour_left, model.contour_right
    assert 200 < len(left) == len(right) < 2000
    assert np.all(model.mean[left, 0] < 0) and np.all(model.mean[right, 0] > 0)
    assert set(model.landmarks[:8].tolist()) <= set(left.tolist())
    assert set(model.landmarks[9:17].tolist()) <= set(right.tolist())
    np.testing.assert_allclose(np.sort(model.mean[left, 0]), np.sort(-model.mean[right, 0]),
                               atol=1e-3)
    # The band reaches from the cheek (in front of the jaw line) to the side of the head.
    jaw_z = model.mean[model.landmarks[3], 2]
    # (jaw point 3 sits as deep as on real faces, 102 mm behind the nose tip)
    assert model.mean[left, 2].max() > jaw_z + 20.0 and model.mean[left, 2].min() < jaw_z - 10.0


def test_jaw_open_moves_the_chin_not_the_brows(model: MorphableModel) -> None:
    move = _displacement(model.exp_basis, 0) * model.exp_std[0]  # jaw open: largest std
    chin, brows = move[model.landmarks[8]], move[model.landmarks[17:27]].max()
    assert chin > 4.0 and chin > 10.0 * brows
    lips = move[model.landmarks[[57, 66]]].min(), move[model.landmarks[[51, 62]]].max()
    assert lips[0] > 3.0 * lips[1]  # the lower lip drops, the upper lip stays


def test_expressions_are_local_to_the_face(model: MorphableModel) -> None:
    mean = model.mean
    crown_or_back = (mean[:, 1] > mean[model.landmarks[19], 1] + 25.0) | (mean[:, 2] < 0.0)
    for k in range(model.n_exp):
        energy = _displacement(model.exp_basis, k) ** 2
        assert energy[crown_or_back].sum() < 0.03 * energy.sum(), k


def test_named_components_at_three_std_keep_a_face(model: MorphableModel) -> None:
    """No fold-over on the face at +-3 std of any named identity component or at +3 std of
    any named expression (a negative jaw opening would push the lips through each other);
    the inside of an opening mouth is allowed to turn away."""
    tris = model.triangles
    ref = _triangle_normals(model.mean, tris)
    lm = model.mean[model.landmarks]
    centre = model.mean[tris].mean(1)
    mouth = ((np.abs(centre[:, 0]) < lm[64, 0] + 2.0) & (centre[:, 1] < lm[62, 1] + 1.0)
             & (centre[:, 1] > lm[57, 1]))
    front = (ref[:, 2] > 0.2 * np.linalg.norm(ref, axis=1)) & ~mouth
    cases = [("id", k, s) for k in range(N_NAMED_ID) for s in (-3.0, 3.0)]
    cases += [("exp", k, 3.0) for k in range(N_NAMED_EXP)]
    for kind, k, s in cases:
        a_id, a_exp = np.zeros(model.n_id), np.zeros(model.n_exp)
        (a_id if kind == "id" else a_exp)[k] = s * (model.id_std if kind == "id" else model.exp_std)[k]
        n = _triangle_normals(model.vertices(a_id, a_exp), tris)
        flipped = np.sum(n[front] * ref[front], axis=1) <= 0
        assert flipped.mean() < 0.002, (kind, k, s)
        p = model.vertices(a_id, a_exp)[model.landmarks]
        assert p[36:48, 1].mean() > p[30, 1] > p[48:68, 1].max(), (kind, k, s)


def test_mesh_is_one_consistently_wound_component_without_degenerate_triangles(
    model: MorphableModel,
) -> None:
    tris = model.triangles
    area = 0.5 * np.linalg.norm(_triangle_normals(model.mean, tris), axis=1)
    assert area.min() > 0.05  # mm^2
    assert np.array_equal(np.unique(tris), np.arange(model.n_vertices))
    edges = np.concatenate([tris[:, [0, 1]], tris[:, [1, 2]], tris[:, [2, 0]]])
    assert len(np.unique(edges, axis=0)) == len(edges)  # each directed edge once: one winding
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])),
                       shape=(model.n_vertices,) * 2)
    assert connected_components(graph, directed=False)[0] == 1
    normals = _triangle_normals(model.mean, tris)
    outward = np.sum(normals * model.mean[tris].mean(1), axis=1) > 0
    assert outward.mean() > 0.97  # counter-clockwise seen from outside


def test_resolution_sets_the_vertex_density() -> None:
    coarse = build_procedural_model(n_id=2, n_exp=2, resolution=32)
    assert 800 < coarse.n_vertices < 1600
    x = coarse.mean[coarse.landmarks, 0]
    assert np.all(np.diff(x[:17]) > 0)


def test_save_load_round_trip(model: MorphableModel, tmp_path: Path) -> None:
    path = tmp_path / "face_model.npz"
    model.save(path)
    loaded = MorphableModel.load(path)
    for name in ("mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "landmarks",
                 "contour_left", "contour_right"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(model, name), err_msg=name)
    assert loaded.name == "procedural"
