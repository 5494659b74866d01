"""Camera and print effects on the final image: shadows, colour, blur, resolution, noise, JPEG.

Images are (S, S, 3) float32 RGB in [0, 1]; sizes are pixels of that image (y down).
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from facealign.data.appearance_settings import AppearanceSettings

SEPIA = np.array([1.07, 0.90, 0.68], np.float32)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601 weights of R, G, B


def luma(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) float32 RGB -> (H, W) float32 luma (Rec. 601), same scale as the image."""
    return image @ LUMA


def set_contrast(image: np.ndarray, factor: float, pivot: float | np.ndarray = 0.5) -> np.ndarray:
    """Scale the image's deviation from ``pivot`` (a level in [0, 1]) by ``factor``; unclipped."""
    return (image - pivot) * np.float32(factor) + pivot


def reencode_jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB after a JPEG round trip at OpenCV ``quality`` (1-100); ``image``
    itself when encoding fails."""
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)  # cv2 is BGR
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB) if ok else image


def cast_shadow(image: np.ndarray, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Darken a random polygon (a shadow cast by something outside the frame), hard-edged."""
    s = image.shape[0]
    mask = np.zeros(image.shape[:2], np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    normal = np.array([np.cos(ang), np.sin(ang)])
    centre = s / 2 + rng.uniform(-0.3, 0.3, 2) * s
    along = normal[::-1] * [1, -1]
    wobble = rng.uniform(-0.15, 0.15, 4) * s
    edge = [centre + along * t * s + normal * wobble[k] for k, t in enumerate((-2, -0.4, 0.4, 2))]
    poly = np.array([*edge, edge[-1] + normal * 3 * s, edge[0] + normal * 3 * s])
    cv2.fillPoly(mask, [np.round(poly).astype(np.int32)], 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), rng.uniform(0.3, 2.0) * s / 120)
    return image * (1 - strength * mask[..., None])


def tone(image: np.ndarray, on: dict, rng: np.random.Generator) -> np.ndarray:
    """Sepia, grayscale or a colour cast (white balance, gamma, contrast)."""
    if on.get("colour_cast"):
        image = image * rng.uniform(0.85, 1.15, 3).astype(np.float32)
        image = np.clip(image, 0, 1) ** np.float32(rng.uniform(0.75, 1.3))
        image = set_contrast(image, rng.uniform(0.75, 1.25))
    if on.get("sepia") or on.get("grayscale"):
        gray = luma(image)
        image = np.repeat(gray[..., None], 3, 2)
        if on.get("sepia"):
            image = image * (SEPIA * rng.uniform(0.9, 1.05, 3).astype(np.float32))
    return np.clip(image, 0, 1).astype(np.float32)


def degrade(image: np.ndarray, on: dict, settings: AppearanceSettings,
            rngs: dict[str, np.random.Generator],
            normal: Callable[[tuple[int, ...]], np.ndarray] | None = None) -> np.ndarray:
    """Blur (Gaussian or motion), low resolution, sensor noise and JPEG, in that order.

    ``image`` is square; ``normal(shape)`` gives the standard-normal float32 fields of the
    noise (default: drawn from ``rngs["noise"]``; training augmentation passes a faster one).
    """
    s = image.shape[0]
    if on.get("blur"):
        rng = rngs["blur"]
        sigma = rng.uniform(*settings.blur_sigma)
        if rng.uniform() < 0.3:  # motion blur along a random direction
            n = max(3, int(round(3 * sigma)) | 1)
            kernel = np.zeros((n, n), np.float32)
            kernel[n // 2] = 1.0 / n
            rot = cv2.getRotationMatrix2D((n / 2 - 0.5, n / 2 - 0.5), rng.uniform(0, 180), 1.0)
            kernel = cv2.warpAffine(kernel, rot, (n, n))
            image = cv2.filter2D(image, -1, kernel / max(float(kernel.sum()), 1e-6))
        else:
            image = cv2.GaussianBlur(image, (0, 0), sigma)
    if on.get("low_res"):
        small = max(8, int(round(s / rngs["low_res"].uniform(*settings.low_res_factor))))
        image = cv2.resize(cv2.resize(image, (small, small), interpolation=cv2.INTER_AREA), (s, s),
                           interpolation=cv2.INTER_LINEAR)
    if on.get("noise"):
        rng = rngs["noise"]
        sigma = rng.uniform(*settings.noise_sigma)
        if normal is None:
            grain = rng.standard_normal(image.shape[:2]).astype(np.float32)[..., None]
            chroma = rng.standard_normal(image.shape).astype(np.float32)
        else:
            grain, chroma = normal(image.shape[:2])[..., None], normal(image.shape)
        image = image + np.float32(sigma) * (0.7 * grain + 0.5 * chroma)
    if on.get("jpeg"):
        q = int(rngs["jpeg"].uniform(*settings.jpeg_quality))
        u8 = np.clip(image * 255 + 0.5, 0, 255).astype(np.uint8)
        decoded = reencode_jpeg(u8, q)
        if decoded is not u8:
            image = decoded.astype(np.float32) / 255
    return np.clip(image, 0, 1).astype(np.float32)
