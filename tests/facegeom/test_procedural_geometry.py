"""The procedural face's landmark geometry against real faces (needs ``../shared``).

Figures are printed (``pytest -s``): the similarity-aligned distance of the mean 68
landmarks to the Basel Face Model's mean by yaw, the depth / width ratio, the identity
landmark covariance against BFM's 40 components, and the fit to the 6 AFLW2000-3D dev
faces.  Distances are mean point distances in percent of sqrt(w * h) of the reference
points' 2D box at that yaw.  BFM (3DDFA's ``u_base``) has our axes (x to the image right
of a frontal face, y up, z towards the camera) in micrometres; it is read in mm.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.io as sio

from facegeom.camera import rotation_matrix
from facegeom.morphable_model import MorphableModel
from facegeom.procedural_face import build_procedural_model

YAWS = (0.0, 30.0, 60.0, 90.0)


@pytest.fixture(scope="module")
def model() -> MorphableModel:
    return build_procedural_model()


@pytest.fixture(scope="module")
def bfm(shared_dir: Path) -> dict[str, np.ndarray]:
    folder = shared_dir / "models/bfm_3ddfa"
    if not (folder / "u_base.txt").is_file():
        pytest.skip(f"3DDFA BFM landmark bases not found in {folder}")
    std = np.loadtxt(folder / "param_std_v2.txt")[12:]
    return {"mean": np.loadtxt(folder / "u_base.txt").reshape(-1, 3) / 1000.0,
            "id": np.loadtxt(folder / "w_shp_base.txt") / 1000.0 * std[:40],
            "exp": np.loadtxt(folder / "w_exp_base.txt") / 1000.0 * std[40:]}


def _similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Scale, rotation and translation minimising |s R src + t - dst|^2 (Umeyama)."""
    a, b = src - src.mean(0), dst - dst.mean(0)
    u, sv, vt = np.linalg.svd(b.T @ a)
    d = np.array([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    s = (sv * d).sum() / (a**2).sum()
    rot = u @ np.diag(d) @ vt
    return s, rot, dst.mean(0) - s * rot @ src.mean(0)


def _nme(points: np.ndarray, ref: np.ndarray) -> float:
    """Mean 2D distance in % of sqrt(w h) of ``ref``'s 2D box."""
    return 100.0 * np.linalg.norm(points - ref, axis=1).mean() / np.sqrt(np.ptp(ref, 0).prod())


def _landmark_rows(model: MorphableModel) -> np.ndarray:
    return (3 * model.landmarks[:, None] + np.arange(3)).reshape(-1)


def _top(cov: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    val, vec = np.linalg.eigh(cov)
    return val[::-1], vec[:, ::-1][:, :k]


def test_mean_landmarks_match_the_bfm_mean_at_every_yaw(model, bfm) -> None:
    ours, ref = model.mean[model.landmarks].astype(np.float64), bfm["mean"]
    s, rot, t = _similarity(ours, ref)
    aligned = s * ours @ rot.T + t
    dist = []
    for yaw in YAWS:
        r = rotation_matrix(0.0, np.deg2rad(yaw), 0.0)
        dist.append(_nme((aligned @ r.T)[:, :2], (ref @ r.T)[:, :2]))
    depth = [np.ptp(p[:, 2]) / np.ptp(p[:, 0]) for p in (ours, ref)]
    print(f"\nmean-landmark distance to BFM at yaw {YAWS}: "
          + " / ".join(f"{d:.2f}" for d in dist) + " %")
    print(f"depth / width of the 68 points: ours {depth[0]:.3f}, BFM {depth[1]:.3f}")
    assert max(dist) <= 1.5
    assert abs(depth[0] - depth[1]) < 0.06


def test_identity_landmark_covariance_resembles_bfm(model, bfm) -> None:
    basis = model.id_basis[_landmark_rows(model)].astype(np.float64) * model.id_std
    ours, ref = basis @ basis.T, bfm["id"] @ bfm["id"].T
    (val_o, vec_o), (val_r, vec_r) = _top(ours, 10), _top(ref, 10)
    share_o, share_r = np.cumsum(val_o)[:10] / val_o.sum(), np.cumsum(val_r)[:10] / val_r.sum()
    angles = {k: np.degrees(np.arccos(np.clip(np.linalg.svd(
        vec_o[:, :k].T @ vec_r[:, :k], compute_uv=False), -1.0, 1.0))) for k in (3, 10)}
    rms = np.sqrt(val_o.sum()), np.sqrt(val_r.sum())
    print(f"\nidentity landmark rms (mm, 68 points): ours {rms[0]:.1f}, BFM {rms[1]:.1f}")
    print("top-k variance share k=1,3,5,10: ours " + ", ".join(f"{share_o[k - 1]:.3f}" for k in (1, 3, 5, 10))
          + "; BFM " + ", ".join(f"{share_r[k - 1]:.3f}" for k in (1, 3, 5, 10)))
    for k, a in angles.items():
        print(f"principal angles (deg) between top-{k} subspaces: " + " ".join(f"{x:.0f}" for x in a))
    assert 0.75 < rms[0] / rms[1] < 1.33
    assert np.all(np.abs(share_o[[0, 2, 4, 9]] - share_r[[0, 2, 4, 9]]) < 0.06)
    assert angles[3][0] < 20.0  # the largest variation (overall size) is shared
    assert np.sum(angles[10] < 50.0) >= 5


def _fit(mean: np.ndarray, basis: np.ndarray, target: np.ndarray, iters: int = 10) -> float:
    """2D NME (%) of a similarity + whitened-coefficient fit (unit ridge prior) to 3D points."""
    coef = np.zeros(basis.shape[1])
    gram = basis.T @ basis + np.eye(basis.shape[1])
    for _ in range(iters):
        s, rot, t = _similarity(mean + (basis @ coef).reshape(-1, 3), target)
        coef = np.linalg.solve(gram, basis.T @ (((target - t) @ rot / s) - mean).reshape(-1))
    shape = mean + (basis @ coef).reshape(-1, 3)
    s, rot, t = _similarity(shape, target)
    return _nme((s * shape @ rot.T + t)[:, :2], target[:, :2])


def test_fit_to_real_faces_leaves_little(model, bfm, shared_dir: Path) -> None:
    files = sorted((shared_dir / "real/aflw2000_dev").glob("*.mat"))
    if not files:
        pytest.skip("no AFLW2000-3D dev faces in shared/data/real/aflw2000_dev")
    rows = _landmark_rows(model)
    ours = (model.mean[model.landmarks].astype(np.float64),
            np.concatenate([model.id_basis[rows] * model.id_std,
                            model.exp_basis[rows] * model.exp_std], 1).astype(np.float64))
    ref = bfm["mean"], np.concatenate([bfm["id"], bfm["exp"]], 1)
    print()
    res = []
    for f in files:
        data = sio.loadmat(f)
        target = data["pt3d_68"].T.astype(np.float64) * np.array([1.0, -1.0, 1.0])  # y up
        yaw = np.degrees(data["Pose_Para"][0, 1])
        res.append((_fit(*ours, target), _fit(*ref, target)))
        print(f"{f.stem} yaw {yaw:6.1f}: fit NME ours {res[-1][0]:.2f} %, BFM-68 {res[-1][1]:.2f} %")
    res = np.array(res)
    print(f"mean fit NME: ours {res[:, 0].mean():.2f} %, BFM-68 {res[:, 1].mean():.2f} %")
    assert res[:, 0].max() < 1.6
