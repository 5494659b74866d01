"""Specification of the camera conventions (facegeom.camera), synthetic and on AFLW2000-3D."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image

from facegeom.camera import (
    euler_from_rotation,
    pose_from_pose_para,
    pose_para_from_pose,
    project,
    project_torch,
    rotation_matrix,
    rotation_matrix_torch,
)
from facegeom.model_files import load_3ddfa_landmark_model

NOSE_TIP, EYE_OUTER_L, EYE_OUTER_R = 30, 36, 45  # 0-based iBUG indices


def _random_angles(rng: np.random.Generator, n: int) -> np.ndarray:
    """(n, 3) pitch, yaw, roll in radians with |yaw| < 85 degrees (away from gimbal lock)."""
    return np.stack([rng.uniform(-np.pi, np.pi, n), rng.uniform(-1.48, 1.48, n),
                     rng.uniform(-np.pi, np.pi, n)], 1)


def test_rotation_is_orthonormal_and_euler_round_trips() -> None:
    for pitch, yaw, roll in _random_angles(np.random.default_rng(0), 200):
        rot = rotation_matrix(pitch, yaw, roll)
        np.testing.assert_allclose(rot @ rot.T, np.eye(3), atol=1e-12)
        assert np.isclose(np.linalg.det(rot), 1.0)
        np.testing.assert_allclose(euler_from_rotation(rot), (pitch, yaw, roll), atol=1e-9)


@pytest.mark.parametrize("yaw", [np.pi / 2, -np.pi / 2])
def test_euler_at_gimbal_lock_gives_the_same_rotation(yaw: float) -> None:
    rot = rotation_matrix(0.3, yaw, -0.2)
    pitch, yaw_back, roll = euler_from_rotation(rot)
    assert roll == 0.0 and np.isclose(yaw_back, yaw)
    np.testing.assert_allclose(rotation_matrix(pitch, yaw_back, roll), rot, atol=1e-6)


def test_torch_rotation_and_projection_match_numpy() -> None:
    rng = np.random.default_rng(1)
    angles = _random_angles(rng, 5)
    rots = rotation_matrix_torch(torch.tensor(angles))
    for angle, rot in zip(angles, rots, strict=True):
        np.testing.assert_allclose(rot.numpy(), rotation_matrix(*angle), atol=1e-12)
    poses = np.concatenate([rng.uniform(0.5, 2, (5, 1)), angles, rng.uniform(0, 200, (5, 2))], 1)
    verts = rng.normal(size=(5, 40, 3)) * 50
    batched = project_torch(torch.tensor(poses), torch.tensor(verts)).numpy()
    for pose, v, out in zip(poses, verts, batched, strict=True):
        np.testing.assert_allclose(out, project(pose, v), rtol=1e-5, atol=1e-3)


def test_projection_convention_and_angle_signs() -> None:
    """x = P_x + tx, y = -P_y + ty, depth = P_z; yaw > 0 moves the nose tip to the image left,
    pitch > 0 moves it up, roll > 0 turns a point right of the origin downwards (clockwise)."""
    pts = np.array([[0.0, 0.0, 50.0], [50.0, 0.0, 0.0], [0.0, 10.0, 0.0]])  # nose, right, up
    np.testing.assert_allclose(project([2.0, 0, 0, 0, 100, 60], pts),
                               [[100, 60, 100], [200, 60, 0], [100, 40, 0]])
    yaw = project([1.0, 0, 0.3, 0, 100, 100], pts)
    pitch = project([1.0, 0.3, 0, 0, 100, 100], pts)
    roll = project([1.0, 0, 0, 0.3, 100, 100], pts)
    assert yaw[0, 0] < 100 and pitch[0, 1] < 100 and roll[1, 1] > 100


def test_pose_para_conversion_matches_the_matlab_formula_and_round_trips() -> None:
    rng = np.random.default_rng(2)
    verts, height = rng.normal(size=(30, 3)) * 8e4, 450
    pose_para = np.array([0.2, -0.5, 0.1, 230.0, 210.0, -110.0, 1.4e-3])
    v = pose_para[6] * verts @ rotation_matrix(*pose_para[:3]).T + pose_para[3:6]
    matlab_xy = np.stack([v[:, 0], height + 1 - v[:, 1]], 1)  # 1-based, y down
    ours = project(pose_from_pose_para(pose_para, height), verts)
    np.testing.assert_allclose(ours[:, :2], matlab_xy - 1, atol=1e-3)
    back = pose_para_from_pose(pose_from_pose_para(pose_para[None], height), height)
    assert back.shape == (1, 7)
    np.testing.assert_allclose(back[0], np.r_[pose_para[:5], 0.0, pose_para[6]])


def _aflw_dev(shared_dir: Path) -> list[Path]:
    mats = sorted((shared_dir / "real/aflw2000_dev").glob("*.mat"))
    assert len(mats) == 6
    return mats


def test_pose_para_projects_the_3ddfa_landmark_model_onto_pt3d_68(shared_dir: Path) -> None:
    """The issue's real-data check: 40 identity + 10 expression coefficients of each file's
    Shape_Para / Exp_Para, projected with its Pose_Para, land within 2 px mean of pt3d_68."""
    model = load_3ddfa_landmark_model(shared_dir / "models/bfm_3ddfa")
    errors = {}
    for mat_path in _aflw_dev(shared_dir):
        mat = scipy.io.loadmat(str(mat_path))
        height = Image.open(mat_path.with_suffix(".jpg")).size[1]
        shape = model.vertices(mat["Shape_Para"][: model.n_id, 0].astype(np.float64),
                               mat["Exp_Para"][: model.n_exp, 0].astype(np.float64))
        pred = project(pose_from_pose_para(mat["Pose_Para"], height), shape)
        truth = mat["pt3d_68"].T.astype(np.float64)
        errors[mat_path.stem] = float(np.linalg.norm(pred[:, :2] - (truth[:, :2] - 1), axis=1).mean())
        # the third row of pt3d_68 is depth in the same units, offset by tz
        np.testing.assert_allclose(pred[:, 2] + mat["Pose_Para"][0, 5], truth[:, 2], atol=6.0)
    print("mean px error per image:", {k: round(v, 2) for k, v in errors.items()})
    assert max(errors.values()) < 2.0, errors


def test_pose_para_yaw_sign_matches_the_image(shared_dir: Path) -> None:
    """Positive yaw: the face turns to the image left, the nose tip lies left of the eye midpoint."""
    yaws = []
    for mat_path in _aflw_dev(shared_dir):
        mat = scipy.io.loadmat(str(mat_path))
        yaw = float(np.degrees(mat["Pose_Para"][0, 1]))
        x = mat["pt3d_68"][0]
        offset = x[NOSE_TIP] - (x[EYE_OUTER_L] + x[EYE_OUTER_R]) / 2
        if abs(yaw) > 10:
            assert np.sign(offset) == -np.sign(yaw), (mat_path.name, yaw, offset)
        yaws.append(yaw)
    assert min(yaws) == pytest.approx(-35.7, abs=0.5) and max(yaws) == pytest.approx(65.6, abs=0.5)
