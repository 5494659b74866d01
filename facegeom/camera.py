"""Weak-perspective camera, Euler angles and the 300W-LP / AFLW2000-3D ``Pose_Para``.

Pose vector (6,): ``(f, pitch, yaw, roll, tx, ty)``; angles in radians, ``f`` in
pixels per model unit, ``(tx, ty)`` the image position (0-based pixels) of the
model origin.  Projection of model vertices ``S`` (N, 3), model y up::

    P = f * S @ R.T
    x_img = P[:, 0] + tx          (pixels, right)
    y_img = -P[:, 1] + ty         (pixels, image y points down)
    depth = P[:, 2]               (larger is nearer the camera)

``R = Rx(pitch) @ Ry(yaw) @ Rz(roll)`` with 3DDFA's axis matrices (face3d's
``angle2matrix_3ddfa``, the MATLAB ``RotationMatrix`` of 300W-LP).  Signs, checked on the
AFLW2000-3D ground truth (``tests/facegeom/test_camera.py``): positive yaw turns the face
towards the image left (the subject's right: the nose tip moves to smaller x); positive
pitch tilts the face up (the nose tip moves to smaller image y); positive roll turns the
face clockwise as seen in the image (y down).

``Pose_Para`` (300W-LP / AFLW2000-3D, 1x7 ``pitch, yaw, roll, tx, ty, tz, f``) projects in
MATLAB's 1-based frame with y up: ``v = f * R @ S + t3d``, image ``x1 = v_x``,
``y1 = H + 1 - v_y``; ``pt3d_68``'s third row is ``v_z`` (``P_z + tz``).  The 0-based y-down
frame above gives ``tx = tx_mat - 1`` and ``ty = H - ty_mat`` (:func:`pose_from_pose_para`).
"""

from __future__ import annotations

import numpy as np
import torch


def rotation_matrix(pitch: float, yaw: float, roll: float) -> np.ndarray:
    """3DDFA rotation from Euler angles in radians, (3, 3) float64."""
    cx, sx = np.cos(pitch), np.sin(pitch)
    cy, sy = np.cos(yaw), np.sin(yaw)
    cz, sz = np.cos(roll), np.sin(roll)
    rx = np.array([[1, 0, 0], [0, cx, sx], [0, -sx, cx]])
    ry = np.array([[cy, 0, -sy], [0, 1, 0], [sy, 0, cy]])
    rz = np.array([[cz, sz, 0], [-sz, cz, 0], [0, 0, 1]])
    return rx @ ry @ rz


def rotation_matrix_torch(angles: torch.Tensor) -> torch.Tensor:
    """Batched :func:`rotation_matrix`: (B, 3) pitch, yaw, roll in radians -> (B, 3, 3)."""
    x, y, z = angles[:, 0], angles[:, 1], angles[:, 2]
    cx, sx, cy, sy, cz, sz = x.cos(), x.sin(), y.cos(), y.sin(), z.cos(), z.sin()
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, cx, sx, zero, -sx, cx], -1).view(-1, 3, 3)
    ry = torch.stack([cy, zero, -sy, zero, one, zero, sy, zero, cy], -1).view(-1, 3, 3)
    rz = torch.stack([cz, sz, zero, -sz, cz, zero, zero, zero, one], -1).view(-1, 3, 3)
    return rx @ ry @ rz


def euler_from_rotation(rot: np.ndarray) -> tuple[float, float, float]:
    """Inverse of :func:`rotation_matrix`: (3, 3) -> (pitch, yaw, roll) in radians.

    Yaw is recovered in [-pi/2, pi/2]; at |yaw| = 90 degrees (gimbal lock) roll is set to 0.
    """
    # From Rx @ Ry @ Rz: row 0 = (cy cz, cy sz, -sy), column 2 = (-sy, sx cy, cx cy).
    yaw = float(np.arcsin(np.clip(-rot[0, 2], -1.0, 1.0)))
    if abs(np.cos(yaw)) > 1e-6:
        roll = float(np.arctan2(rot[0, 1], rot[0, 0]))
        pitch = float(np.arctan2(rot[1, 2], rot[2, 2]))
    else:  # rows 1, 2 then depend on pitch -+ roll only; put it all into pitch
        roll = 0.0
        pitch = float(np.arctan2(-rot[2, 1], rot[1, 1]))
    return pitch, yaw, roll


def project(pose: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Project model vertices to the image.

    Args:
        pose: (6,) ``(f, pitch, yaw, roll, tx, ty)``.
        vertices: (N, 3) model-space vertices.
    Returns:
        (N, 3) float32: image x, image y (0-based pixels, y down), depth (larger = nearer).
    """
    f, pitch, yaw, roll, tx, ty = (float(v) for v in pose)
    p = f * (vertices @ rotation_matrix(pitch, yaw, roll).T)
    out = np.empty_like(p, dtype=np.float32)
    out[:, 0] = p[:, 0] + tx
    out[:, 1] = -p[:, 1] + ty
    out[:, 2] = p[:, 2]
    return out


def project_torch(pose: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Batched differentiable :func:`project`: (B, 6), (B, N, 3) -> (B, N, 3)."""
    rot = rotation_matrix_torch(pose[:, 1:4])
    p = pose[:, 0, None, None] * torch.einsum("bnk,bjk->bnj", vertices, rot)
    x = p[..., 0] + pose[:, 4, None]
    y = -p[..., 1] + pose[:, 5, None]
    return torch.stack([x, y, p[..., 2]], -1)


def pose_from_pose_para(pose_para: np.ndarray, image_height: int) -> np.ndarray:
    """Our 6-d pose from a 300W-LP / AFLW2000-3D ``Pose_Para``.

    Args:
        pose_para: (7,) or (1, 7) ``(pitch, yaw, roll, tx, ty, tz, f)``; angles in radians,
            translation in MATLAB's 1-based image frame with y up.
        image_height: height of the image the pose refers to, pixels.
    Returns:
        (6,) float64 ``(f, pitch, yaw, roll, tx, ty)`` in our 0-based, y-down frame.
    """
    pitch, yaw, roll, tx, ty, _tz, f = np.asarray(pose_para, np.float64).reshape(7)
    return np.array([f, pitch, yaw, roll, tx - 1.0, image_height - ty])


def pose_para_from_pose(pose: np.ndarray, image_height: int) -> np.ndarray:
    """Inverse of :func:`pose_from_pose_para`; ``tz`` is written as 0. Returns (1, 7)."""
    f, pitch, yaw, roll, tx, ty = np.asarray(pose, np.float64).reshape(6)
    return np.array([[pitch, yaw, roll, tx + 1.0, image_height - ty, 0.0, f]])
