"""Real training and test trees (300W-LP, AFLW2000-3D) read for a given morphable model.

300W-LP is a tree: one folder per source set (``AFW``, ``HELEN``, ``IBUG``, ``LFPW`` and
their ``*_Flip`` mirrors), each holding ``.jpg`` + ``.mat`` pairs in the layout of
:mod:`facealign.data.readers`, plus a ``landmarks/`` folder of ``*_pts.mat`` files with 2D
points only, which is not a training set and is skipped.  AFLW2000-3D is one flat folder.

The labels' ``Shape_Para`` / ``Exp_Para`` are coefficients of the full Basel Face Model
(199 identity, 29 expression).  A model with fewer components (e.g. the 3DDFA pieces, 40 +
10) uses their leading values, as 3DDFA's 62-d parameter does (12 pose + 40 + 10); a model
with more gets zeros for the missing ones.  :func:`coefficient_note` says which applies, and
:func:`reprojected_landmarks` checks that the labels and the model agree: the 68 model
landmarks projected with ``Pose_Para`` should land on the file's landmarks within a few
pixels (image pixels, 0-based, y down).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facealign.data import readers
from facegeom.camera import project
from facegeom.morphable_model import MorphableModel

SKIPPED_FOLDERS = ("landmarks",)  # 300W-LP's 2D-only *_pts.mat files


def find_annotations(root: str | Path) -> list[Path]:
    """Every ``.mat`` with an image beside it under ``root`` (recursively), sorted.

    Folders named in :data:`SKIPPED_FOLDERS` are left out; a ``.mat`` without an image
    beside it is an error naming it (as :func:`facealign.data.readers.read_face_mat`).
    """
    root = Path(root)
    if not root.is_dir():
        raise readers.DatasetError(f"{root}: folder not found")
    mats = sorted(p for p in root.rglob("*.mat")
                  if not any(part in SKIPPED_FOLDERS for part in p.relative_to(root).parts[:-1]))
    if not mats:
        raise readers.DatasetError(f"{root}: no .mat annotation files found (searched its subfolders)")
    return mats


def read_tree(root: str | Path) -> list[readers.FaceRecord]:
    """The records of :func:`find_annotations` (a flat AFLW2000-3D folder reads the same way)."""
    return [readers.read_face_mat(p) for p in find_annotations(root)]


def fitted_coefficients(values: np.ndarray, n: int) -> np.ndarray:
    """Raw coefficients (K,) truncated or zero-padded to a model's ``n`` components, float64."""
    out = np.zeros(n)
    k = min(n, len(values))
    out[:k] = np.asarray(values, np.float64)[:k]
    return out


def coefficient_note(records: list[readers.FaceRecord], model: MorphableModel) -> str | None:
    """A sentence for the log when the labels' coefficient counts differ from the model's."""
    n_id = sorted({r.shape_para.size for r in records})
    n_exp = sorted({r.exp_para.size for r in records})
    if n_id == [model.n_id] and n_exp == [model.n_exp]:
        return None
    counts = f"{'/'.join(map(str, n_id))} identity + {'/'.join(map(str, n_exp))} expression"
    more = max(n_id) >= model.n_id and max(n_exp) >= model.n_exp
    verb = "truncated to" if more else "fitted (zero-padded) to"
    return (f"the labels carry {counts} coefficients (Shape_Para / Exp_Para), the face model has "
            f"{model.n_id} + {model.n_exp}: {verb} the model's components (3DDFA's 62-d convention "
            f"when the model is its 40 + 10)")


def reprojected_landmarks(records: list[readers.FaceRecord], model: MorphableModel) -> np.ndarray:
    """(n, 68, 2) the model's landmarks for each record's labels, image pixels (0-based, y down).

    Coefficients as :func:`fitted_coefficients`; camera from ``Pose_Para``
    (:func:`facealign.data.readers.pose`).
    """
    marks = model.subset(model.landmarks)
    out = np.empty((len(records), 68, 2))
    for i, r in enumerate(records):
        shape = marks.vertices(fitted_coefficients(r.shape_para, model.n_id),
                               fitted_coefficients(r.exp_para, model.n_exp))
        out[i] = project(readers.pose(r), shape.astype(np.float64))[:, :2]
    return out


def reprojection_errors(records: list[readers.FaceRecord], model: MorphableModel) -> np.ndarray:
    """(n,) mean distance in pixels between :func:`reprojected_landmarks` and each file's 68
    landmarks (``pt3d_68``, else the 68-point ``pt2d``); NaN points are left out."""
    diff = np.linalg.norm(reprojected_landmarks(records, model)
                          - np.stack([r.landmarks68 for r in records]), axis=2)
    return np.nanmean(diff, axis=1)
