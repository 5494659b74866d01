"""The 3DMM parameter vector: 6 pose values, then identity, then expression coefficients.

Layout of ``p`` (6 + K_id + K_exp,), 234 values for the default 199/29 model::

    p[0:6]              pose (f, pitch, yaw, roll, tx, ty), see :mod:`facegeom.camera`
    p[6:6+K_id]         raw identity coefficients
    p[6+K_id:]          raw expression coefficients

Parameters refer to one image frame; :func:`to_crop` moves them into the frame of a
square crop resized to ``size`` pixels, which only rescales ``f`` and shifts ``(tx, ty)``
under weak perspective.
"""

from __future__ import annotations

import numpy as np

from facegeom.camera import project
from facegeom.morphable_model import MorphableModel

N_POSE = 6


def n_params(model: MorphableModel) -> int:
    """Length of the parameter vector for ``model``."""
    return N_POSE + model.n_id + model.n_exp


def split(params: np.ndarray, model: MorphableModel) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(..., P) -> pose (..., 6), identity (..., K_id), expression (..., K_exp)."""
    k = N_POSE + model.n_id
    return params[..., :N_POSE], params[..., N_POSE:k], params[..., k:]


def join(pose: np.ndarray, id_coeff: np.ndarray, exp_coeff: np.ndarray) -> np.ndarray:
    """Inverse of :func:`split`, float32."""
    return np.concatenate([pose, id_coeff, exp_coeff], axis=-1).astype(np.float32)


def project_params(params: np.ndarray, model: MorphableModel) -> np.ndarray:
    """Image-space vertices of one parameter vector: (P,) -> (N, 3), see :func:`camera.project`."""
    pose, a_id, a_exp = split(np.asarray(params, np.float64), model)
    return project(pose, model.vertices(a_id, a_exp))


def to_crop(params: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Parameters in the frame of the crop ``box`` (x0, y0, x1, y1) resized to ``size`` px.

    The box is taken as square (its width is used for both axes). Works on (P,) or (B, P)
    with boxes (4,) or (B, 4).
    """
    p = np.array(params, np.float64, copy=True)
    box = np.asarray(box, np.float64)
    scale = size / (box[..., 2] - box[..., 0])
    p[..., 0] *= scale
    p[..., 4] = (p[..., 4] - box[..., 0]) * scale
    p[..., 5] = (p[..., 5] - box[..., 1]) * scale
    return p


def from_crop(params: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Inverse of :func:`to_crop`: crop-frame parameters back to the image frame."""
    p = np.array(params, np.float64, copy=True)
    box = np.asarray(box, np.float64)
    scale = (box[..., 2] - box[..., 0]) / size
    p[..., 0] *= scale
    p[..., 4] = p[..., 4] * scale + box[..., 0]
    p[..., 5] = p[..., 5] * scale + box[..., 1]
    return p
