"""Dense-correspondence figure: colour-code a face surface and carry the colours across views.

Every face pixel of view A is coloured by where it lies on the mean face (the Normalised
Coordinate Code, x/y/z scaled to [0, 1] as RGB).  Each face pixel of view B takes the
colour of its DFF nearest-angle pixel in A (black when the angle exceeds the threshold or
the match falls on A's background); the ground-truth coding of B is shown beside it, so a
good descriptor gives two nearly identical panels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facealign.matching import ViewPair
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import interpolate


def surface_code(pair: ViewPair, view: int, model: MorphableModel) -> np.ndarray:
    """(S, S, 3) float NCC colour of every face pixel of one view, 0 (black) on background."""
    return interpolate(pair.rasters[view], model.triangles, model.ncc())


def dff_transfer(desc_a: np.ndarray, desc_b: np.ndarray, code_a: np.ndarray, mask_b: np.ndarray,
                 max_angle_deg: float, mask_a: np.ndarray | None = None, chunk: int = 2048) -> np.ndarray:
    """(H, W, 3) colours of B's face pixels taken from their nearest-angle pixel in A.

    Args:
        desc_a, desc_b: (D, H, W) unit descriptors.
        code_a: (H, W, 3) colours of A's pixels.
        mask_b: (H, W) bool, the pixels of B to colour.
        max_angle_deg: rejection threshold; rejected pixels stay black.
        mask_a: (H, W) bool, the candidate pixels of A (None: all).
    """
    d, h, w = desc_a.shape
    flat_a = desc_a.reshape(d, -1)
    rows, cols = np.nonzero(mask_b)
    out = np.zeros((h, w, 3), np.float32)
    min_cos = np.cos(np.radians(max_angle_deg))
    for start in range(0, len(rows), chunk):
        r, c = rows[start : start + chunk], cols[start : start + chunk]
        cos = desc_b[:, r, c].T @ flat_a
        if mask_a is not None:
            cos[:, ~mask_a.reshape(-1)] = -2.0
        best = cos.argmax(axis=1)
        ok = cos[np.arange(len(best)), best] >= min_cos
        out[r[ok], c[ok]] = code_a.reshape(-1, 3)[best[ok]]
    return out


def save_correspondence_figure(examples: list[tuple[str, ViewPair, np.ndarray]], model: MorphableModel,
                               path: str | Path, max_angle_deg: float, face_only: bool = True) -> Path:
    """One row per (label, pair, descriptors (2, D, S, S)): A, B, A's code, B's true code, B by DFF
    (matched among A's face pixels when ``face_only``, else among all of A)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    titles = ["view A", "view B", "A: surface code", "B: ground truth", "B: DFF transfer"]
    fig, axes = plt.subplots(len(examples), 5, figsize=(12.5, 2.7 * len(examples)), squeeze=False)
    for row, (label, pair, desc) in enumerate(examples):
        code_a, code_b = surface_code(pair, 0, model), surface_code(pair, 1, model)
        moved = dff_transfer(desc[0], desc[1], code_a, pair.rasters[1].mask, max_angle_deg,
                             pair.rasters[0].mask if face_only else None)
        panels = [pair.images[0], pair.images[1], code_a, code_b, moved]
        for col, (ax, img) in enumerate(zip(axes[row], panels, strict=True)):
            ax.imshow(np.clip(img, 0, 255 if img.dtype == np.uint8 else 1))
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(titles[col], fontsize=10)
        yaw_a, yaw_b = pair.yaw_deg
        axes[row, 0].set_ylabel(f"{label}\nyaw {yaw_a:.0f} / {yaw_b:.0f} deg", fontsize=9)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
