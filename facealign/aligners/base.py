"""What every aligner returns, and the interface every aligner implements.

An aligner takes whole images and face boxes and returns, per face, 68 landmarks in
original-image pixels (0-based, x right, y down), per-landmark visibility, the head
pose in degrees and, where the method has them, the 3DMM parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass
class Alignment:
    """One aligned face.

    Attributes:
        landmarks: (68, 2) float32 image pixels.
        visible: (68,) bool, False where the point is self-occluded or outside the image.
        yaw, pitch, roll: head pose in degrees.
        params: (6 + K_id + K_exp,) float32 parameters in the image frame, or None.
        box: (4,) float32 face box ``(x0, y0, x1, y1)`` the alignment started from.
    """

    landmarks: np.ndarray
    visible: np.ndarray
    yaw: float
    pitch: float
    roll: float
    box: np.ndarray
    params: np.ndarray | None = None

    def to_json(self) -> dict:
        """The face entry of the prediction contract (degrees, image pixels)."""
        return {
            "box": [round(float(v), 2) for v in self.box],
            "landmarks": [[round(float(x), 2), round(float(y), 2)] for x, y in self.landmarks],
            "visible": [bool(v) for v in self.visible],
            "pose": {"yaw": round(self.yaw, 3), "pitch": round(self.pitch, 3),
                     "roll": round(self.roll, 3)},
        }


class Aligner(Protocol):
    """The inference interface shared by the mean-shape baseline, the cascade and DFF-SDM."""

    name: str
    content_hash: str | None  # aligner_hash of the directory it was loaded from; None in memory

    def align(self, images: list[np.ndarray], boxes: np.ndarray) -> list[Alignment]:
        """Align one face per image.

        Args:
            images: B RGB uint8 images (H_i, W_i, 3), sizes may differ.
            boxes: (B, 4) face boxes ``(x0, y0, x1, y1)`` in each image's pixels.
        """
        ...
