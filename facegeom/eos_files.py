"""Read the Surrey Face Model's eos files with numpy alone.

The cereal binary archives

Layout, little endian, as written by eos 0.x with cereal's ``BinaryOutputArchive``:

* ``sfm_shape_<N>.bin`` (an ``eos::morphablemodel::MorphableModel``): uint32 class version,
  then the shape PCA model -- mean, orthonormal basis, eigenvalues, each an Eigen matrix
  stored as int32 rows, int32 cols and rows*cols float32 values in column-major order --
  then its triangle list (uint64 count, count x 3 int32, 0-based).  The colour model and
  texture coordinates that follow are not read.
* ``expression_blendshapes_<N>.bin`` (``std::vector<Blendshape>``): uint64 count, then per
  blendshape a string (uint64 length, bytes) and an Eigen (3N, 1) float32 deformation.

Beside them, ``ibug_to_sfm.txt`` (TOML: ``[landmark_mappings]`` 1-based iBUG number = 0-based
vertex) and ``sfm_model_contours.json`` (``model_contour.right_contour`` / ``left_contour``).

Errors raise ``ValueError`` naming the file and the part that could not be read.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import numpy as np


class _Cursor:
    """Sequential little-endian reads from a byte buffer; errors name the file and the part."""

    def __init__(self, path: Path) -> None:
        if not path.is_file():
            raise ValueError(f"{path}: file not found")
        self.path, self.buf, self.pos = path, path.read_bytes(), 0

    def take(self, dtype: str, count: int, what: str) -> np.ndarray:
        size = np.dtype(dtype).itemsize * count
        if count < 0 or self.pos + size > len(self.buf):
            raise ValueError(f"{self.path}: truncated archive while reading {what!r}")
        out = np.frombuffer(self.buf, dtype, count, self.pos)
        self.pos += size
        return out

    def matrix(self, what: str) -> np.ndarray:
        """An Eigen float32 matrix -> (rows, cols) float32."""
        rows, cols = (int(v) for v in self.take("<i4", 2, what))
        data = self.take("<f4", rows * cols, what)
        return data.reshape(cols, rows).T.copy()

    def size(self, what: str) -> int:
        return int(self.take("<u8", 1, what)[0])


def read_sfm_shape(path: str | Path) -> dict[str, np.ndarray]:
    """The shape model of an SFM ``.bin``.

    Returns ``mean`` (3N,) float32 xyz interleaved, ``orthonormal_basis`` (3N, K) float32,
    ``eigenvalues`` (K,) float32 (variances), ``triangles`` (T, 3) int32 0-based.
    """
    cur = _Cursor(Path(path))
    cur.take("<u4", 1, "version")
    mean = cur.matrix("mean")
    basis = cur.matrix("orthonormal_basis")
    eigenvalues = cur.matrix("eigenvalues")
    n_tri = cur.size("triangles")
    triangles = cur.take("<i4", 3 * n_tri, "triangles").reshape(n_tri, 3).copy()
    if mean.shape[1] != 1 or basis.shape[0] != mean.shape[0] or eigenvalues.size != basis.shape[1]:
        raise ValueError(
            f"{cur.path}: inconsistent shapes mean {mean.shape}, basis {basis.shape}, "
            f"eigenvalues {eigenvalues.shape}"
        )
    return {
        "mean": mean[:, 0], "orthonormal_basis": basis,
        "eigenvalues": eigenvalues.reshape(-1), "triangles": triangles,
    }


def read_blendshapes(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Expression blendshapes: names and (B, 3N) float32 deformations (offsets from the mean)."""
    cur = _Cursor(Path(path))
    names, shapes = [], []
    for i in range(cur.size("count")):
        length = cur.size(f"name of blendshape {i}")
        names.append(cur.take("u1", length, f"name of blendshape {i}").tobytes().decode())
        shapes.append(cur.matrix(f"blendshape {names[-1]}").reshape(-1))
    if len({s.size for s in shapes}) > 1:
        raise ValueError(f"{cur.path}: blendshapes have different lengths")
    return names, np.stack(shapes) if shapes else np.zeros((0, 0), np.float32)


def read_sfm_sidecars(path: str | Path) -> dict[str, np.ndarray]:
    """Blendshapes, iBUG mapping and contours from the files beside an ``sfm_shape_<N>.bin``.

    Returns ``expression_blendshapes`` (B, 3N) when ``expression_blendshapes_<N>.bin`` exists,
    ``ibug68_to_sfm`` (M, 2) int64, ``right_contour`` and ``left_contour`` (int64 vertex ids).
    """
    path = Path(path)
    out: dict[str, np.ndarray] = {}
    blend = path.with_name(f"expression_blendshapes_{path.stem.rsplit('_', 1)[-1]}.bin")
    if blend.is_file():
        out["expression_blendshapes"] = read_blendshapes(blend)[1]
    try:
        mapping = tomllib.loads(path.with_name("ibug_to_sfm.txt").read_text())
        contours = json.loads(path.with_name("sfm_model_contours.json").read_text())
        pairs = [[int(k), int(v)] for k, v in mapping["landmark_mappings"].items()]
        for side in ("right_contour", "left_contour"):
            out[side] = np.asarray(contours["model_contour"][side], np.int64)
    except (OSError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read the landmark files beside it ({exc!r})") from exc
    out["ibug68_to_sfm"] = np.asarray(pairs, np.int64)
    return out
