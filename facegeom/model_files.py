"""Loaders for real morphable models: BFM ``.mat``, the 3DDFA pieces, the Surrey Face Model.

Every loader returns a :class:`~facegeom.morphable_model.MorphableModel` in the project's
convention: mean (N, 3), bases (3N, K) with xyz interleaved per vertex, raw coefficients
(``a[k]`` has standard deviation ``std[k]``), 0-based triangles (T, 3) and 68 iBUG landmark
vertex indices.  Units are the file's own (BFM: micrometre-scale, SFM: millimetres); the
weak-perspective scale ``f`` absorbs them.  Sizes (K_id, K_exp, N) always come from the file.

Errors (missing file, unreadable file, missing field, wrong shape) raise :class:`ModelFileError`
(a ``ValueError``) whose message names the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io

from facegeom.eos_files import read_sfm_shape, read_sfm_sidecars
from facegeom.morphable_model import N_LANDMARKS, MorphableModel


class ModelFileError(ValueError):
    """A model file is missing, unreadable, lacks a field or has a wrong shape."""


def _read_mat(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    try:
        data = scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error to users
        raise ModelFileError(f"{path}: not a readable .mat file ({exc})") from exc
    if "model" in data and data["model"].dtype.names:  # face3d's BFM.mat: one struct 'model'
        struct = data["model"][0, 0]
        return {name: struct[name] for name in struct.dtype.names}
    return {k: v for k, v in data.items() if not k.startswith("__")}


def _field(data: dict, key: str, path: Path) -> np.ndarray:
    if key not in data:
        raise ModelFileError(f"{path}: missing field {key!r}")
    return np.asarray(data[key])


def _column(data: dict, key: str, path: Path, rows: int | None = None) -> np.ndarray:
    """A field that must be a vector (n,), (n, 1) or (1, n) -> (n,) float64."""
    arr = _field(data, key, path)
    if arr.ndim > 2 or (arr.ndim == 2 and 1 not in arr.shape) or (rows and arr.size != rows):
        want = f"({rows}, 1)" if rows else "a vector"
        raise ModelFileError(f"{path}: field {key!r} has shape {arr.shape}, expected {want}")
    return arr.reshape(-1).astype(np.float64)


def _triangles(tri: np.ndarray, path: Path, key: str = "tri") -> np.ndarray:
    """(T, 3) or (3, T) 1-based MATLAB triangles -> (T, 3) int32 0-based."""
    if tri.ndim != 2 or 3 not in tri.shape:
        raise ModelFileError(f"{path}: field {key!r} has shape {tri.shape}, expected (T, 3)")
    tri = tri if tri.shape[1] == 3 else tri.T
    return np.ascontiguousarray(tri.astype(np.int64) - 1).astype(np.int32)


def _build(path: Path, **fields) -> MorphableModel:
    try:
        return MorphableModel(**fields)
    except ValueError as exc:
        raise ModelFileError(f"{path}: {exc}") from exc


def load_bfm_mat(path: str | Path, ev: Literal["std", "variance"] = "std") -> MorphableModel:
    """The Basel Face Model in face3d's / 3DDFA's ``.mat`` layout.

    Fields (top level, or inside face3d's single struct ``model``): ``shapeMU`` (3N, 1),
    ``shapePC`` (3N, K_id), ``shapeEV`` (K_id, 1), ``expMU`` (3N, 1), ``expPC`` (3N, K_exp),
    ``expEV`` (K_exp, 1), ``tri`` (T, 3) or (3, T) 1-based, ``kpt_ind`` (68,) 1-based vertex
    indices.  Mean = shapeMU + expMU (as face3d).  Assumption: ``shapeEV`` / ``expEV`` hold the
    standard deviation of each raw coefficient (face3d samples ``shapePC @ (EV * randn)``);
    pass ``ev="variance"`` for a file that stores variances (the square root is then taken).
    """
    path = Path(path)
    data = _read_mat(path)
    shape_mu = _column(data, "shapeMU", path)
    n3 = shape_mu.size
    if n3 % 3:
        raise ModelFileError(f"{path}: field 'shapeMU' has {n3} rows, not a multiple of 3")
    mean = shape_mu + _column(data, "expMU", path, rows=n3)
    bases, stds = {}, {}
    for kind, pc_key, ev_key in (("id", "shapePC", "shapeEV"), ("exp", "expPC", "expEV")):
        pc = _field(data, pc_key, path)
        if pc.ndim != 2 or pc.shape[0] != n3:
            raise ModelFileError(f"{path}: field {pc_key!r} has shape {pc.shape}, expected ({n3}, K)")
        std = _column(data, ev_key, path, rows=pc.shape[1])
        bases[kind] = pc.astype(np.float32)
        stds[kind] = (np.sqrt(np.maximum(std, 0.0)) if ev == "variance" else std).astype(np.float32)
    kpt = _column(data, "kpt_ind", path, rows=N_LANDMARKS)
    return _build(
        path, mean=mean.reshape(-1, 3).astype(np.float32), id_basis=bases["id"],
        id_std=stds["id"], exp_basis=bases["exp"], exp_std=stds["exp"],
        triangles=_triangles(_field(data, "tri", path), path),
        landmarks=kpt.astype(np.int64) - 1, name="bfm",
    )


def _npy(folder: Path, name: str) -> np.ndarray:
    path = folder / name
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    try:
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False)
        return np.loadtxt(path, dtype=np.float64, ndmin=1)
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{path}: not readable ({exc})") from exc


def _landmarks_from_keypoints(kp: np.ndarray, path: Path) -> np.ndarray:
    """3DDFA ``keypoints_sim`` (204,) flat xyz indices -> (68,) vertex indices."""
    kp = kp.reshape(-1).astype(np.int64)
    if kp.shape != (3 * N_LANDMARKS,) or np.any(kp.reshape(-1, 3) % 3 != np.arange(3)):
        raise ModelFileError(f"{path}: expected 204 xyz-interleaved indices, got {kp.shape}")
    return kp[::3] // 3


def load_3ddfa_dense(folder: str | Path) -> MorphableModel:
    """The dense 3DDFA mean face (N = 53215) with triangles and landmarks, without bases.

    Files: ``u_shp.npy`` + ``u_exp.npy`` (3N, 1) xyz interleaved, ``tri.mat`` (``tri``, (3, T)
    1-based), ``keypoints_sim.npy`` (204,) indices into the flattened mean (vertex = idx // 3).
    The dense bases are not distributed here, so the model has (3N, 0) bases and empty stds.
    """
    folder = Path(folder)
    mean = _npy(folder, "u_shp.npy").reshape(-1) + _npy(folder, "u_exp.npy").reshape(-1)
    tri_path = folder / "tri.mat"
    tri = _triangles(_field(_read_mat(tri_path), "tri", tri_path), tri_path)
    n3 = mean.size
    empty_basis, empty_std = np.zeros((n3, 0), np.float32), np.zeros(0, np.float32)
    return _build(
        folder, mean=mean.reshape(-1, 3).astype(np.float32), id_basis=empty_basis,
        id_std=empty_std, exp_basis=empty_basis, exp_std=empty_std, triangles=tri,
        landmarks=_landmarks_from_keypoints(_npy(folder, "keypoints_sim.npy"), folder),
        name="bfm-3ddfa-dense",
    )


def load_3ddfa_landmark_model(folder: str | Path) -> MorphableModel:
    """The 68-vertex 3DDFA model: ``u_base`` (204,), ``w_shp_base`` (204, 40), ``w_exp_base``
    (204, 10); landmarks ``arange(68)``, no triangles.

    Coefficients are raw, the same as the first 40 ``Shape_Para`` / 10 ``Exp_Para`` values of
    300W-LP / AFLW2000-3D (the 3DDFA bases are BFM's orthonormal PCs, not whitened).  The stds
    are 3DDFA's empirical coefficient stds from ``param_std_v2.txt`` (62 = 12 pose + K_id +
    K_exp); all ones when that file is missing or does not match the bases.
    """
    folder = Path(folder)
    mean = _npy(folder, "u_base.txt").reshape(-1)
    w_shp = _npy(folder, "w_shp_base.txt").reshape(mean.size, -1)
    w_exp = _npy(folder, "w_exp_base.txt").reshape(mean.size, -1)
    k_id, k_exp = w_shp.shape[1], w_exp.shape[1]
    std = np.ones(k_id + k_exp)
    if (folder / "param_std_v2.txt").is_file():
        param_std = _npy(folder, "param_std_v2.txt").reshape(-1)
        if param_std.size == 12 + k_id + k_exp:
            std = param_std[12:]
    return _build(
        folder, mean=mean.reshape(-1, 3).astype(np.float32), id_basis=w_shp.astype(np.float32),
        id_std=std[:k_id].astype(np.float32), exp_basis=w_exp.astype(np.float32),
        exp_std=std[k_id:].astype(np.float32), triangles=np.zeros((0, 3), np.int32),
        landmarks=np.arange(N_LANDMARKS, dtype=np.int64), name="bfm-3ddfa-68",
    )


def _contour_picks(mean: np.ndarray, contour: np.ndarray, top_y: float, chin: int) -> np.ndarray:
    """8 jaw points from a contour list (ordered top to chin): along the contour from the vertex
    nearest the eye-corner height to the chin (skipping vertices below the chin), at
    arc-length fractions 0, 1/8, ..., 7/8."""
    start = int(np.argmin(np.abs(mean[contour, 1] - top_y)))
    above = contour[start:][mean[contour[start:], 1] > mean[chin, 1]]
    path = np.concatenate([above, [chin]])
    arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(mean[path], axis=0), axis=1))])
    targets = arc[-1] * np.arange(8) / 8
    return path[np.abs(arc[None] - targets[:, None]).argmin(1)]


def _sfm_landmarks(mean: np.ndarray, arrays: dict, path: Path) -> np.ndarray:
    """68 iBUG vertices; SFM maps 50.  Fills iBUG 1-8 / 10-17 (1-based) from the right / left
    contour lists (the subject's right = image left) by :func:`_contour_picks`, and the inner
    mouth corners 61 / 65 with the vertex nearest the centroid of points (49, 62, 68) /
    (55, 64, 66)."""
    lm = np.full(N_LANDMARKS, -1, np.int64)
    pairs = np.asarray(arrays["ibug68_to_sfm"], np.int64).reshape(-1, 2)
    if pairs.size and (pairs[:, 0].min() < 1 or pairs[:, 0].max() > N_LANDMARKS):
        raise ModelFileError(f"{path}: field 'ibug68_to_sfm' has iBUG numbers outside 1..68")
    lm[pairs[:, 0] - 1] = pairs[:, 1]
    needed = [36, 45, 8, 48, 61, 67, 54, 63, 65]
    if np.any(lm[needed] < 0):
        raise ModelFileError(f"{path}: field 'ibug68_to_sfm' lacks the eye, chin or lip points")
    right = _contour_picks(mean, np.asarray(arrays["right_contour"]), mean[lm[36], 1], lm[8])
    left = _contour_picks(mean, np.asarray(arrays["left_contour"]), mean[lm[45], 1], lm[8])
    lm[:8] = np.where(lm[:8] < 0, right, lm[:8])
    lm[9:17] = np.where(lm[9:17] < 0, left[::-1], lm[9:17])
    for inner, ring in ((60, (48, 61, 67)), (64, (54, 63, 65))):
        if lm[inner] < 0:
            centroid = mean[lm[list(ring)]].mean(0)
            lm[inner] = int(np.linalg.norm(mean - centroid, axis=1).argmin())
    return lm


def load_sfm(path: str | Path) -> MorphableModel:
    """The Surrey Face Model from eos's ``.bin`` or its numpy ``.npz`` export.

    ``.npz`` keys: ``mean`` (3N,), ``orthonormal_basis`` (3N, K), ``eigenvalues`` (K,)
    (variances), ``triangles`` (T, 3) 0-based, ``expression_blendshapes`` (B, 3N) offsets,
    ``ibug68_to_sfm`` (M, 2) (1-based iBUG number, 0-based vertex), ``right_contour``,
    ``left_contour``.  For a ``.bin`` these come from the file, ``expression_blendshapes_<N>.bin``,
    ``ibug_to_sfm.txt`` and ``sfm_model_contours.json`` beside it.
    id_std = sqrt(eigenvalues); the B blendshapes are the expression basis columns (std 1).
    ``contour_left`` (image left) is SFM's ``right_contour`` (the subject's right).
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: file not found")
    try:
        if path.suffix == ".bin":
            arrays = {**read_sfm_shape(path), **read_sfm_sidecars(path)}
        else:
            with np.load(path, allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
    except Exception as exc:  # noqa: BLE001
        raise ModelFileError(f"{path}: not a readable SFM model ({exc})") from exc
    for key in ("mean", "orthonormal_basis", "eigenvalues", "triangles", "ibug68_to_sfm",
                "right_contour", "left_contour"):
        _field(arrays, key, path)
    mean = np.asarray(arrays["mean"], np.float32).reshape(-1, 3)
    blend = np.asarray(arrays.get("expression_blendshapes", np.zeros((0, mean.size))), np.float32)
    return _build(
        path, mean=mean, id_basis=np.asarray(arrays["orthonormal_basis"], np.float32),
        id_std=np.sqrt(np.maximum(np.asarray(arrays["eigenvalues"], np.float32), 0)).reshape(-1),
        exp_basis=np.ascontiguousarray(blend.reshape(-1, mean.size).T),
        exp_std=np.ones(blend.shape[0], np.float32),
        triangles=np.asarray(arrays["triangles"], np.int32),
        landmarks=_sfm_landmarks(mean, arrays, path),
        contour_left=np.asarray(arrays["right_contour"], np.int64),
        contour_right=np.asarray(arrays["left_contour"], np.int64), name="sfm",
    )


def save_bfm_mat(model: MorphableModel, path: str | Path) -> Path:
    """Write ``model`` in the BFM ``.mat`` layout that :func:`load_bfm_mat` reads (atomically).

    ``shapeMU`` = the mean, ``expMU`` = zeros, ``shapeEV`` / ``expEV`` = the stds, ``tri``
    and ``kpt_ind`` 1-based; e.g. to hand the pipeline a model made here
    (:func:`facegeom.landmark_mesh.landmark_mesh`) as users hand it their BFM.
    """
    import io

    from faceio.atomic import write_bytes

    n3 = 3 * model.n_vertices
    fields = {
        "shapeMU": model.mean.reshape(n3, 1).astype(np.float64),
        "shapePC": model.id_basis.astype(np.float64),
        "shapeEV": model.id_std.reshape(-1, 1).astype(np.float64),
        "expMU": np.zeros((n3, 1)), "expPC": model.exp_basis.astype(np.float64),
        "expEV": model.exp_std.reshape(-1, 1).astype(np.float64),
        "tri": model.triangles.astype(np.float64) + 1,
        "kpt_ind": model.landmarks.reshape(1, -1).astype(np.float64) + 1,
    }
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, fields)
    return write_bytes(path, buffer.getvalue())
