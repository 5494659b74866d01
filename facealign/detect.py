"""Face boxes for an image: given, detected, or the whole image.

Boxes are ``(x0, y0, x1, y1)`` in the image's pixels (0-based, x right, y down), the
convention of the evaluation protocol and of the aligners' training (the box of the 68
landmarks).  Detection uses OpenCV's bundled Haar cascades: frontal, and profile in both
orientations (the profile cascade finds faces turned one way, so it also runs on the mirrored
image); the frontal one alone misses most faces beyond 30 degrees of yaw.  Each cascade's box is
mapped to the landmark box by a linear calibration (:data:`HAAR_TO_LANDMARK_BOX`, applied in the
view the cascade saw), and of overlapping faces the one with the largest cascade window is kept.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

# Haar box (x, y, w, h) -> landmark box (x + a*w, y + b*h, x + c*w, y + d*h), in the frame the
# cascade saw (the mirrored image for the mirrored profile pass).  Medians over the detections
# matched to the 68-landmark boxes of 300 generated large-pose faces (yaw uniform over +-90 deg):
# `python bench/calibrate_detector.py` (bench/results/detector_calibration.json).
HAAR_TO_LANDMARK_BOX = {"frontal": (0.084, 0.232, 0.912, 1.077), "profile": (0.141, 0.279, 0.779, 0.965)}
DETECT_MAX_SIDE = 320  # pixels: images are shrunk to this before detection (speed)
MIN_BOX_SIDE = 4.0  # pixels
MIN_INSIDE_FRACTION = 0.25  # of a given box's area that must lie in the image


class BoxError(ValueError):
    """A face box that is malformed or does not fit the image; the message says which."""


def parse_box(value: str | Sequence[float]) -> np.ndarray:
    """``"x0,y0,x1,y1"`` or a 4-sequence -> (4,) float64; raises :class:`BoxError`."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.replace(" ", ",").split(",") if p.strip()]
    else:
        parts = list(value) if isinstance(value, Sequence | np.ndarray) else [value]
    if len(parts) != 4:
        raise BoxError(f"a box needs 4 numbers x0,y0,x1,y1, got {len(parts)}: {str(value)[:80]!r}")
    try:
        box = np.array([float(p) for p in parts], np.float64)
    except (TypeError, ValueError) as exc:
        raise BoxError(f"a box needs 4 numbers x0,y0,x1,y1, got {str(value)[:80]!r}") from exc
    if not np.all(np.isfinite(box)):
        raise BoxError(f"box {box.tolist()} has a non-finite number")
    if box[2] - box[0] < MIN_BOX_SIDE or box[3] - box[1] < MIN_BOX_SIDE:
        raise BoxError(f"box {box.tolist()} needs x1 > x0 and y1 > y0 by at least {MIN_BOX_SIDE:g} px")
    return box


def check_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """Refuse a box that mostly lies outside a ``width`` x ``height`` image; returns it."""
    ix = max(0.0, min(box[2], width) - max(box[0], 0.0))
    iy = max(0.0, min(box[3], height) - max(box[1], 0.0))
    area = (box[2] - box[0]) * (box[3] - box[1])
    if ix * iy < MIN_INSIDE_FRACTION * area:
        raise BoxError(f"box {np.round(box, 2).tolist()} lies outside the {width}x{height} image")
    return box


def _nms(boxes: list[np.ndarray], iou_max: float = 0.3, inside_max: float = 0.6) -> np.ndarray:
    """Keep boxes in order, dropping any that overlaps an earlier kept one by IoU > ``iou_max``
    or lies mostly inside it (more than ``inside_max`` of its own area: another cascade's window
    on the same face, e.g. a profile window within the frontal one)."""
    kept: list[np.ndarray] = []
    for b in boxes:
        ok = True
        for k in kept:
            iw = max(0.0, min(b[2], k[2]) - max(b[0], k[0]))
            ih = max(0.0, min(b[3], k[3]) - max(b[1], k[1]))
            inter = iw * ih
            area = (b[2] - b[0]) * (b[3] - b[1])
            union = area + (k[2] - k[0]) * (k[3] - k[1]) - inter
            if inter > iou_max * union or inter > inside_max * area:
                ok = False
                break
        if ok:
            kept.append(b)
    return np.array(kept, np.float64).reshape(-1, 4)


class HaarFaceDetector:
    """OpenCV Haar cascades (frontal + profile both ways); safe to share between threads.

    OpenCV's classifiers are not thread-safe, so each thread lazily gets its own pair.
    """

    def __init__(self, min_face_fraction: float = 0.12, max_faces: int = 8) -> None:
        self.min_face_fraction = min_face_fraction
        self.max_faces = max_faces
        self._local = threading.local()

    def _cascades(self):
        import cv2

        if not hasattr(self._local, "cascades"):
            root = Path(cv2.data.haarcascades)
            self._local.cascades = {
                kind: cv2.CascadeClassifier(str(root / f"haarcascade_{name}.xml"))
                for kind, name in (("frontal", "frontalface_default"), ("profile", "profileface"))
            }
        return self._local.cascades

    def raw_detections(self, image: np.ndarray) -> tuple[list[tuple[str, bool, np.ndarray]], float, int]:
        """Every cascade's uncalibrated boxes on ``image`` (H, W, 3) RGB.

        Returns ``([(kind, mirrored, (x, y, w, h) in the view's pixels), ...], scale, view_width)``:
        detection runs on the image shrunk by ``scale`` (longer side at most ``DETECT_MAX_SIDE``);
        a mirrored view's x runs from the image's right edge.
        """
        import cv2

        scale = min(1.0, DETECT_MAX_SIDE / max(image.shape[:2]))
        small = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        gray = cv2.equalizeHist(cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
        h, w = gray.shape
        side = max(int(self.min_face_fraction * min(h, w)), 20)
        found: list[tuple[str, bool, np.ndarray]] = []
        for kind, cascade in self._cascades().items():
            views = [(gray, False)] + ([(gray[:, ::-1].copy(), True)] if kind == "profile" else [])
            for view, mirrored in views:
                rects = cascade.detectMultiScale(view, scaleFactor=1.1, minNeighbors=5, minSize=(side, side))
                found += [(kind, mirrored, r) for r in np.asarray(rects).reshape(-1, 4).astype(np.float64)]
        return found, scale, w

    def detect(self, image: np.ndarray) -> np.ndarray:
        """(K, 4) calibrated landmark-style boxes in ``image``'s pixels; of overlapping detections the
        one with the largest cascade window is kept (the best policy on the calibration faces)."""
        found, scale, width = self.raw_detections(image)
        found.sort(key=lambda f: -f[2][2] * f[2][3])
        return _nms([calibrated_box(rect, kind, mirrored, width) / scale
                     for kind, mirrored, rect in found])[: self.max_faces]


def calibrated_box(rect: np.ndarray, kind: str, mirrored: bool, view_width: int) -> np.ndarray:
    """A cascade's (x, y, w, h) in its view -> the landmark box (x0, y0, x1, y1) in the image.

    The calibration of ``kind`` (:data:`HAAR_TO_LANDMARK_BOX`) applies in the view the cascade
    saw; a mirrored view's box is then flipped back (x -> ``view_width`` - x).
    """
    x, y, bw, bh = rect
    a, b, c, d = HAAR_TO_LANDMARK_BOX[kind]
    box = np.array([x + a * bw, y + b * bh, x + c * bw, y + d * bh])
    if mirrored:
        box = np.array([view_width - box[2], box[1], view_width - box[0], box[3]])
    return box


def face_boxes(
    image: np.ndarray, given: Sequence | None = None, detector: HaarFaceDetector | None = None
) -> tuple[np.ndarray, str]:
    """Boxes (K, 4) for ``image`` (H, W, 3) and where they came from.

    ``given`` boxes are parsed and checked against the image (``"given"``); else the
    detector's faces (``"haar"``); else the whole image (``"whole-image"``).
    """
    h, w = image.shape[:2]
    if given is not None and len(given) > 0:
        return np.stack([check_box(parse_box(b), w, h) for b in given]), "given"
    if detector is not None:
        found = detector.detect(image)
        if len(found):
            return found, "haar"
    return np.array([[0.0, 0.0, w - 1.0, h - 1.0]]), "whole-image"
