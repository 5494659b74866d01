"""Tiny generated test subjects: a 68-vertex face model, mean-shape aligners, a test folder.

The face model is a hand-placed iBUG-68 layout (model units ~ mm, y up).  A test folder in
the AFLW2000-3D layout holds faces whose landmarks are that layout, scaled, shifted and
jittered, drawn as dots on a plain background, so that a mean-shape aligner built from
the exact layout scores a low NME and one built from a distorted layout a higher one.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

from facealign.aligners.mean_shape import save_mean_shape_aligner
from facealign.data import readers
from facegeom.morphable_model import MorphableModel

NAME = "face-alignment"  # the registered model name of the contract


def _ellipse(cx: float, cy: float, rx: float, ry: float, start: float, stop: float, n: int) -> np.ndarray:
    t = np.linspace(start, stop, n)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


def face_layout() -> np.ndarray:
    """(68, 2) iBUG-68 points of a frontal face, model units, x right, y up."""
    jaw = _ellipse(0, 10, 70, 85, np.pi, 2 * np.pi, 17)
    brow_l = np.stack([np.linspace(-55, -15, 5), 45 + 5 * np.sin(np.linspace(0, np.pi, 5))], 1)
    brow_r = brow_l[::-1] * [-1, 1]
    bridge = np.stack([np.zeros(4), np.linspace(35, 5, 4)], 1)
    nose = np.stack([np.linspace(-15, 15, 5), -5 - 3 * np.sin(np.linspace(0, np.pi, 5))], 1)
    eye_l = _ellipse(-35, 25, 12, 5, np.pi, -np.pi, 7)[:6]
    eye_r = _ellipse(35, 25, 12, 5, np.pi, -np.pi, 7)[:6]
    mouth_o = _ellipse(0, -35, 25, 10, np.pi, -np.pi, 13)[:12]
    mouth_i = _ellipse(0, -35, 15, 4, np.pi, -np.pi, 9)[:8]
    return np.concatenate([jaw, brow_l, brow_r, bridge, nose, eye_l, eye_r, mouth_o, mouth_i])


def face_model(distortion: float = 0.0, seed: int = 0) -> MorphableModel:
    """A 68-vertex model whose mean is :func:`face_layout`, optionally distorted by
    ``distortion`` (fraction of the face size) of random per-point noise."""
    rng = np.random.default_rng(seed)
    xy = face_layout() + distortion * 150.0 * rng.standard_normal((68, 2))
    mean = np.concatenate([xy, np.zeros((68, 1))], axis=1).astype(np.float32)
    return MorphableModel(
        mean=mean, id_basis=rng.standard_normal((204, 2)).astype(np.float32) * 0.01,
        id_std=np.ones(2, np.float32), exp_basis=np.zeros((204, 1), np.float32),
        exp_std=np.ones(1, np.float32), triangles=np.zeros((0, 3), np.int32),
        landmarks=np.arange(68, dtype=np.int64), name="tiny")


def mean_shape_dir(directory: Path, distortion: float = 0.0, seed: int = 0) -> Path:
    """A saved mean-shape aligner directory for :func:`face_model` (``distortion``, ``seed``)."""
    return save_mean_shape_aligner(face_model(distortion, seed), directory)


def face_image(landmarks: np.ndarray, size: int = 120) -> np.ndarray:
    """(size, size, 3) uint8: a skin-toned disc with dark dots at ``landmarks`` (68, 2)."""
    yy, xx = np.mgrid[:size, :size]
    img = np.full((size, size, 3), 90, np.uint8)
    centre = landmarks.mean(0)
    radius = 0.6 * np.ptp(landmarks, axis=0).max()
    img[(xx - centre[0]) ** 2 + (yy - centre[1]) ** 2 < radius**2] = (200, 160, 140)
    for x, y in np.rint(landmarks).astype(int):
        img[max(y - 1, 0) : y + 2, max(x - 1, 0) : x + 2] = (40, 30, 30)
    return img


def write_test_folder(folder: Path, n: int = 9, size: int = 120, seed: int = 1) -> Path:
    """``n`` jpg + .mat pairs in the AFLW2000-3D layout, |yaw| cycling over the three bins."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    layout = face_layout() * [1, -1]  # y down
    for i in range(n):
        scale = rng.uniform(0.45, 0.6) * size / 150.0
        centre = size / 2 + rng.uniform(-5, 5, 2)
        lm = layout * scale + centre + rng.normal(0, 0.8, (68, 2))
        yaw = np.radians((15, 45, 75)[i % 3] * (1 if i % 2 else -1))
        Image.fromarray(face_image(lm, size)).save(folder / f"test_{i:03d}.jpg", quality=92)
        readers.write_face_mat(folder / f"test_{i:03d}.mat", lm, np.array([0, yaw, 0, 0, 0, 0, 1.0]),
                               np.zeros(2), np.zeros(1))
    (folder / "manifest.json").write_text(json.dumps({"split": "test", "count": n}))
    return folder


def encode(image: np.ndarray, fmt: str = "JPEG", **kwargs) -> bytes:
    """Encode an array with PIL (``fmt`` = JPEG, PNG, ...)."""
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format=fmt, **kwargs)
    return buf.getvalue()
