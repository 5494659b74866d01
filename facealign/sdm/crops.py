"""Square face crops: the frame every SDM computation works in.

A crop is the square box centred on the face box, ``scale`` times the face box's longer
side, resized to ``size`` pixels.  Coordinates map as in :func:`facegeom.parameters.to_crop`
(``x_crop = (x - x0) * size / side``, pixel centres at integers in both frames), so
parameters move between frames with ``to_crop`` / ``from_crop`` and the crop box.
"""

from __future__ import annotations

import cv2
import numpy as np


def crop_boxes(boxes: np.ndarray, scale: float) -> np.ndarray:
    """Square crop boxes around face boxes.

    Args:
        boxes: (B, 4) face boxes ``(x0, y0, x1, y1)``, pixels.
        scale: crop side / longer side of the face box.
    Returns:
        (B, 4) float64 square boxes with the same centres.
    """
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    half = scale * np.maximum((boxes[:, 2:] - boxes[:, :2]).max(1), 1.0) / 2
    return np.concatenate([centre - half[:, None], centre + half[:, None]], 1)


def crop_image(image: np.ndarray, box: np.ndarray, size: int) -> np.ndarray:
    """Resample ``image`` (H, W, 3) uint8 inside the square ``box`` to (size, size, 3).

    Outside the image the border pixels are replicated.  When the crop shrinks the image
    by more than 2x, the image is first area-downsampled to limit aliasing.
    """
    box = np.asarray(box, np.float64)
    s = size / (box[2] - box[0])
    if s < 0.5:
        factor = 2.0 * s
        h, w = image.shape[:2]
        small = cv2.resize(image, (max(1, round(w * factor)), max(1, round(h * factor))),
                           interpolation=cv2.INTER_AREA)
        sx, sy = small.shape[1] / w, small.shape[0] / h
        # cv2.resize maps pixel centres as x_small = (x + 0.5) * sx - 0.5
        matrix = np.array([[s / sx, 0, s * (0.5 / sx - 0.5 - box[0])],
                           [0, s / sy, s * (0.5 / sy - 0.5 - box[1])]])
        image = small
    else:
        matrix = np.array([[s, 0, -box[0] * s], [0, s, -box[1] * s]])
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def crop_faces(images: list[np.ndarray], boxes: np.ndarray, size: int, scale: float
               ) -> tuple[np.ndarray, np.ndarray]:
    """Crops (B, size, size, 3) uint8 and their boxes (B, 4) in image pixels."""
    squares = crop_boxes(boxes, scale)
    crops = np.stack([crop_image(img, box, size) for img, box in zip(images, squares, strict=True)])
    return crops, squares


def boxes_to_crop(boxes: np.ndarray, squares: np.ndarray, size: int) -> np.ndarray:
    """Face boxes (B, 4) in image pixels -> the same boxes in crop pixels."""
    s = size / (squares[:, 2] - squares[:, 0])
    return (np.asarray(boxes, np.float64) - np.tile(squares[:, :2], 2)) * s[:, None]
