"""Specification of the real morphable-model loaders (facegeom.model_files)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io

from facegeom.model_files import (
    ModelFileError,
    load_3ddfa_dense,
    load_3ddfa_landmark_model,
    load_bfm_mat,
    load_sfm,
)

N_VERT, K_ID, K_EXP, N_TRI = 80, 7, 3, 20


def _bfm_fields(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A tiny BFM in face3d's layout: MATLAB column vectors, (3, T) 1-based tri, 1-based kpt."""
    return {
        "shapeMU": rng.normal(size=(3 * N_VERT, 1)),
        "shapePC": rng.normal(size=(3 * N_VERT, K_ID)),
        "shapeEV": rng.uniform(1, 2, size=(K_ID, 1)),
        "expMU": rng.normal(size=(3 * N_VERT, 1)),
        "expPC": rng.normal(size=(3 * N_VERT, K_EXP)),
        "expEV": rng.uniform(1, 2, size=(K_EXP, 1)),
        "tri": rng.integers(1, N_VERT + 1, size=(3, N_TRI)).astype(np.float64),
        "kpt_ind": rng.integers(1, N_VERT + 1, size=(1, 68)).astype(np.float64),
    }


@pytest.fixture()
def bfm(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    fields = _bfm_fields(np.random.default_rng(0))
    path = tmp_path / "tiny_bfm.mat"
    scipy.io.savemat(path, fields)
    return path, fields


def test_bfm_mat_round_trip_converts_to_0_based_and_interleaved_layout(bfm) -> None:
    path, f = bfm
    model = load_bfm_mat(path)
    assert (model.n_vertices, model.n_id, model.n_exp) == (N_VERT, K_ID, K_EXP)
    np.testing.assert_allclose(model.mean.reshape(-1), (f["shapeMU"] + f["expMU"])[:, 0], rtol=1e-6)
    np.testing.assert_allclose(model.id_basis, f["shapePC"], rtol=1e-6)
    np.testing.assert_allclose(model.exp_std, f["expEV"][:, 0], rtol=1e-6)
    np.testing.assert_array_equal(model.triangles, f["tri"].T - 1)
    np.testing.assert_array_equal(model.landmarks, f["kpt_ind"][0] - 1)


def test_bfm_mat_accepts_face3d_model_struct_and_variances(tmp_path: Path) -> None:
    fields = _bfm_fields(np.random.default_rng(1))
    fields["tri"] = fields["tri"].T  # (T, 3) is accepted too
    path = tmp_path / "BFM.mat"
    scipy.io.savemat(path, {"model": fields})
    model = load_bfm_mat(path, ev="variance")
    np.testing.assert_allclose(model.id_std, np.sqrt(fields["shapeEV"][:, 0]), rtol=1e-6)
    np.testing.assert_array_equal(model.triangles, fields["tri"] - 1)


@pytest.mark.parametrize("field", ["shapePC", "expEV", "kpt_ind", "tri"])
def test_bfm_mat_missing_field_names_file_and_field(tmp_path: Path, field: str) -> None:
    fields = _bfm_fields(np.random.default_rng(2))
    del fields[field]
    path = tmp_path / "broken_bfm.mat"
    scipy.io.savemat(path, fields)
    with pytest.raises(ModelFileError, match=rf"broken_bfm\.mat: missing field '{field}'"):
        load_bfm_mat(path)


def test_bfm_mat_wrong_shape_and_unreadable_file_are_named(tmp_path: Path) -> None:
    fields = _bfm_fields(np.random.default_rng(3))
    fields["shapeEV"] = fields["shapeEV"][:-1]
    scipy.io.savemat(tmp_path / "short_ev.mat", fields)
    with pytest.raises(ModelFileError, match=r"short_ev\.mat: field 'shapeEV' has shape"):
        load_bfm_mat(tmp_path / "short_ev.mat")
    (tmp_path / "garbage.mat").write_bytes(b"not a mat file at all" * 10)
    with pytest.raises(ModelFileError, match=r"garbage\.mat"):
        load_bfm_mat(tmp_path / "garbage.mat")
    with pytest.raises(ModelFileError, match=r"absent\.mat: file not found"):
        load_bfm_mat(tmp_path / "absent.mat")


def test_3ddfa_dense_model_has_mean_triangles_landmarks_and_no_bases(shared_dir: Path) -> None:
    model = load_3ddfa_dense(shared_dir / "models/bfm_3ddfa")
    assert model.n_vertices == 53215 and (model.n_id, model.n_exp) == (0, 0)
    assert model.triangles.shape == (105840, 3)
    assert model.triangles.min() == 0 and model.triangles.max() == 53214
    vertices = model.vertices(np.zeros(0), np.zeros(0))
    assert vertices.shape == (53215, 3)


def test_3ddfa_landmark_model_is_the_dense_mean_at_the_keypoints(shared_dir: Path) -> None:
    folder = shared_dir / "models/bfm_3ddfa"
    dense, sparse = load_3ddfa_dense(folder), load_3ddfa_landmark_model(folder)
    assert (sparse.n_vertices, sparse.n_id, sparse.n_exp) == (68, 40, 10)
    np.testing.assert_array_equal(sparse.landmarks, np.arange(68))
    assert sparse.triangles.shape == (0, 3)
    np.testing.assert_allclose(sparse.mean, dense.mean[dense.landmarks], rtol=1e-5, atol=0.5)
    param_std = np.loadtxt(folder / "param_std_v2.txt")
    np.testing.assert_allclose(sparse.id_std, param_std[12:52], rtol=1e-6)
    np.testing.assert_allclose(sparse.exp_std, param_std[52:], rtol=1e-6)


def test_3ddfa_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match=r"u_base\.txt: file not found"):
        load_3ddfa_landmark_model(tmp_path)


def test_sfm_bin_and_npz_give_the_same_model(shared_dir: Path) -> None:
    from_bin = load_sfm(shared_dir / "models/sfm/sfm_shape_3448.bin")
    from_npz = load_sfm(shared_dir / "models/sfm/sfm_shape_3448.npz")
    for name in ("mean", "id_basis", "id_std", "exp_basis", "exp_std", "triangles", "landmarks",
                 "contour_left", "contour_right"):
        np.testing.assert_array_equal(getattr(from_bin, name), getattr(from_npz, name), err_msg=name)
    assert (from_bin.n_vertices, from_bin.n_id, from_bin.n_exp) == (3448, 63, 6)
    npz = np.load(shared_dir / "models/sfm/sfm_shape_3448.npz")
    np.testing.assert_allclose(from_bin.id_std ** 2, npz["eigenvalues"], rtol=1e-5)


def test_sfm_landmarks_keep_the_50_mapped_points_and_fill_a_plausible_jaw(shared_dir: Path) -> None:
    model = load_sfm(shared_dir / "models/sfm/sfm_shape_3448.npz")
    mapping = np.load(shared_dir / "models/sfm/sfm_shape_3448.npz")["ibug68_to_sfm"]
    np.testing.assert_array_equal(model.landmarks[mapping[:, 0] - 1], mapping[:, 1])
    jaw = model.mean[model.landmarks[:17]]
    assert np.all(jaw[:8, 0] < 0) and np.all(jaw[9:, 0] > 0)  # image left / image right
    assert np.all(np.diff(jaw[:9, 1]) < 0) and np.all(np.diff(jaw[8:, 1]) > 0)  # down then up
    np.testing.assert_allclose(jaw[:8, 0], -jaw[16:8:-1, 0], atol=2.0)  # symmetric picks
    assert set(model.landmarks[:8]) <= set(model.contour_left.tolist()) | {int(mapping[0, 1])}


def test_sfm_truncated_bin_names_the_file(tmp_path: Path, shared_dir: Path) -> None:
    data = (shared_dir / "models/sfm/sfm_shape_3448.bin").read_bytes()
    (tmp_path / "sfm_shape_3448.bin").write_bytes(data[:100_000])
    with pytest.raises(ModelFileError, match=r"sfm_shape_3448\.bin.*truncated.*orthonormal_basis"):
        load_sfm(tmp_path / "sfm_shape_3448.bin")
