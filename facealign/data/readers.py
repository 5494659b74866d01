"""Readers (and one writer) for real face-alignment dataset formats.

* 300W-LP / AFLW2000-3D: a MATLAB ``.mat`` beside each image (``image00050.mat`` +
  ``image00050.jpg``) holding ``pt3d_68`` (3, 68; AFLW2000-3D only), ``pt2d`` (2, K; 68 iBUG
  points in 300W-LP, 21 AFLW points in AFLW2000-3D, -1 = missing), ``Pose_Para`` (1, 7),
  ``Shape_Para`` (K_id, 1), ``Exp_Para`` (K_exp, 1) and ``roi`` (1, 4).
* iBUG ``.pts`` files (``version: 1``, ``n_points: 68``, ``{ x y ... }``).

Conventions: files hold 1-based MATLAB pixel coordinates with y down; every array returned
here is 0-based (x - 1, y - 1), x right, y down, in pixels.  ``pt3d_68``'s third row (depth,
larger = nearer, offset by ``tz``) is returned unchanged.  Any problem with a file raises
:class:`DatasetError` naming the file and, where there is one, the field.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from PIL import Image

from facegeom.camera import pose_from_pose_para
from faceio import atomic

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


class DatasetError(ValueError):
    """A dataset file is missing, unreadable, lacks a field or has a field of the wrong shape."""


@dataclass(frozen=True)
class FaceRecord:
    """One annotated face of 300W-LP / AFLW2000-3D.

    Attributes:
        mat_path: the annotation file.
        image_path: the image beside it.
        image_size: (height, width) of the image, pixels.
        landmarks68: (68, 2) float64 iBUG points, 0-based pixels (from ``pt3d_68``, else ``pt2d``).
        landmarks68_z: (68,) float64 depth row of ``pt3d_68``, or None when the file has none.
        pt2d: (K, 2) float64 0-based pixels, NaN where the file had -1 (missing).
        pose_para: (7,) float64 ``(pitch, yaw, roll, tx, ty, tz, f)``, radians, MATLAB frame.
        shape_para: (K_id,) float64 raw identity coefficients.
        exp_para: (K_exp,) float64 raw expression coefficients.
        roi: (4,) float64 face box as stored (may be negative or beyond the image).
    """

    mat_path: Path
    image_path: Path
    image_size: tuple[int, int]
    landmarks68: np.ndarray
    landmarks68_z: np.ndarray | None
    pt2d: np.ndarray
    pose_para: np.ndarray
    shape_para: np.ndarray
    exp_para: np.ndarray
    roi: np.ndarray


# The 116-byte descriptive text of a MAT v5 header, without scipy's "Created on" time, so that
# equal content gives equal files (and equal DVC hashes) whenever and wherever it is written.
MAT_HEADER_TEXT = b"MATLAB 5.0 MAT-file, Platform: posix, written by facealign".ljust(116, b" ")

def _load_mat(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the same error to users
        raise DatasetError(f"{path}: not a readable .mat file ({exc})") from exc


def _field(data: dict, key: str, path: Path, shape: tuple[int | None, ...]) -> np.ndarray:
    """``data[key]`` as float64 with ``shape`` (None = any size); (n,) also accepts (1, n) / (n, 1)."""
    if key not in data:
        raise DatasetError(f"{path}: missing field {key!r}")
    arr = np.asarray(data[key])
    if len(shape) == 1 and arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)
    if arr.ndim != len(shape) or any(w is not None and w != s for s, w in zip(arr.shape, shape, strict=True)):
        want = "(" + ", ".join("K" if w is None else str(w) for w in shape) + ("," * (len(shape) == 1)) + ")"
        raise DatasetError(f"{path}: field {key!r} has shape {arr.shape}, expected {want}")
    try:
        return arr.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{path}: field {key!r} is not numeric ({exc})") from exc


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) in pixels, from the image header only."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            width, height = img.size
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: unreadable image ({exc})") from exc
    return int(height), int(width)


def load_image(path: str | Path) -> np.ndarray:
    """Decode an image (jpg, png, ppm, ...) to (H, W, 3) uint8 RGB; the stored pixel grid
    (no EXIF rotation), as the annotations refer to it.  Truncated files are errors."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: image file not found")
    try:
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"), dtype=np.uint8)
    except Exception as exc:  # noqa: BLE001
        raise DatasetError(f"{path}: unreadable or corrupt image ({exc})") from exc


def _image_beside(mat_path: Path) -> Path:
    for suffix in IMAGE_SUFFIXES:
        if (candidate := mat_path.with_suffix(suffix)).is_file():
            return candidate
    raise DatasetError(f"{mat_path}: image {mat_path.stem}.jpg not found beside it")


def _points(xy: np.ndarray) -> np.ndarray:
    """(2, K) 1-based points -> (K, 2) 0-based, NaN where either coordinate is -1 (missing;
    AFLW2000-3D stores x = -1 and a y-flipped -1, i.e. y = H + 2)."""
    pts = xy.T - 1.0
    pts[np.any(xy.T == -1, axis=1)] = np.nan
    return pts


def read_face_mat(path: str | Path) -> FaceRecord:
    """One 300W-LP / AFLW2000-3D ``.mat`` and the size of the image beside it."""
    path = Path(path)
    data = _load_mat(path)
    pt2d = _field(data, "pt2d", path, (2, None))
    if "pt3d_68" in data:
        pt3d = _field(data, "pt3d_68", path, (3, 68))
        landmarks, depth = pt3d[:2].T - 1.0, pt3d[2].copy()
    elif pt2d.shape == (2, 68):
        landmarks, depth = _points(pt2d), None
    else:
        raise DatasetError(f"{path}: missing field 'pt3d_68' (and 'pt2d' has shape {pt2d.shape})")
    image_path = _image_beside(path)
    return FaceRecord(
        mat_path=path, image_path=image_path, image_size=image_size(image_path),
        landmarks68=landmarks, landmarks68_z=depth, pt2d=_points(pt2d),
        pose_para=_field(data, "Pose_Para", path, (7,)),
        shape_para=_field(data, "Shape_Para", path, (None,)),
        exp_para=_field(data, "Exp_Para", path, (None,)),
        roi=_field(data, "roi", path, (4,)),
    )


def read_folder(folder: str | Path) -> list[FaceRecord]:
    """Every ``.mat`` + image pair in ``folder``, sorted by file name."""
    folder = Path(folder)
    mats = sorted(folder.glob("*.mat")) if folder.is_dir() else []
    if not mats:
        raise DatasetError(f"{folder}: no .mat annotation files found")
    return [read_face_mat(p) for p in mats]


def pose(record: FaceRecord) -> np.ndarray:
    """(6,) ``(f, pitch, yaw, roll, tx, ty)`` in the 0-based y-down image frame."""
    return pose_from_pose_para(record.pose_para, record.image_size[0])


def yaw_degrees(record: FaceRecord) -> float:
    """Yaw in degrees; positive = the face turned towards the image left."""
    return float(np.degrees(record.pose_para[1]))


def read_dense_vertices(path: str | Path) -> np.ndarray:
    """AFLW2000-3D fitted dense mesh (field ``vertex``, (3, N)) -> (N, 3) float32, as stored."""
    path = Path(path)
    return _field(_load_mat(path), "vertex", path, (3, None)).T.astype(np.float32)


def read_pts(path: str | Path, n_points: int = 68) -> np.ndarray:
    """iBUG ``.pts`` -> (n_points, 2) float64, 0-based pixels (the file is 1-based)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: file not found")
    text = path.read_text(errors="replace")
    header, brace, rest = text.partition("{")
    body, close, _ = rest.partition("}")
    fields = {k.strip(): v for k, v in (ln.split(":", 1) for ln in header.splitlines() if ":" in ln)}
    try:
        declared = int(fields["n_points"])
        values = np.array(body.split(), dtype=np.float64)
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: field 'n_points' or the point list is malformed ({exc})") from exc
    if not brace or not close or values.size != 2 * declared or declared != n_points:
        raise DatasetError(
            f"{path}: field 'points' has {values.size // 2} points in braces "
            f"(n_points: {declared}), expected {n_points}"
        )
    return values.reshape(-1, 2) - 1.0


def write_face_mat(
    path: str | Path, landmarks68: np.ndarray, pose_para: np.ndarray, shape_para: np.ndarray,
    exp_para: np.ndarray, *, landmarks68_z: np.ndarray | None = None,
    pt2d: np.ndarray | None = None, roi: np.ndarray | None = None,
) -> None:
    """Write the AFLW2000-3D layout that :func:`read_face_mat` reads (the image is separate).

    Args take this module's 0-based conventions: ``landmarks68`` (68, 2), ``landmarks68_z``
    (68,) (zeros if None), ``pt2d`` (K, 2) with NaN = missing (``landmarks68`` if None),
    ``pose_para`` (7,), ``shape_para`` (K_id,), ``exp_para`` (K_exp,), ``roi`` (4,) (the
    landmark box if None).  Stored: ``pt3d_68`` 3x68 and ``pt2d`` 2xK 1-based (-1 = missing),
    ``Pose_Para`` 1x7, ``Shape_Para`` K_idx1, ``Exp_Para`` K_expx1, ``roi`` 1x4.
    The file is written to a temporary name first, then renamed.
    """
    path = Path(path)
    lm = np.asarray(landmarks68, np.float64).reshape(68, 2)
    z = np.zeros(68) if landmarks68_z is None else np.asarray(landmarks68_z, np.float64).reshape(68)
    pts = lm if pt2d is None else np.asarray(pt2d, np.float64).reshape(-1, 2)
    box = np.r_[lm.min(0), lm.max(0)] if roi is None else np.asarray(roi, np.float64).reshape(4)
    fields = {
        "pt3d_68": np.vstack([lm.T + 1.0, z[None]]),
        "pt2d": np.where(np.isnan(pts), -1.0, pts + 1.0).T,
        "Pose_Para": np.asarray(pose_para, np.float64).reshape(1, 7),
        "Shape_Para": np.asarray(shape_para, np.float64).reshape(-1, 1),
        "Exp_Para": np.asarray(exp_para, np.float64).reshape(-1, 1),
        "roi": box.reshape(1, 4),
    }
    write_mat(path, fields)


def write_mat(path: str | Path, fields: dict[str, np.ndarray]) -> None:
    """Write a MAT v5 file atomically, its bytes a function of ``fields`` alone (no time stamp)."""
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, fields)
    data = bytearray(buffer.getvalue())
    data[: len(MAT_HEADER_TEXT)] = MAT_HEADER_TEXT  # scipy stamps the creation time; keep bytes = content
    atomic.write_bytes(Path(path), bytes(data))


def read_mat_fields(path: str | Path) -> dict[str, np.ndarray]:
    """Every variable of a ``.mat`` (no ``__header__``-style entries); errors name the file."""
    path = Path(path)
    return {k: v for k, v in _load_mat(path).items() if not k.startswith("__")}
