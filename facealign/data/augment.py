"""Training-time photometric and occlusion augmentation of face images (labels never change).

Images are (H, W, 3) uint8 RGB, square (crops of the cascade and the SDM, DFF training
views); sizes are pixels of that image, y down.  :func:`augment` draws every effect with
its own probability and applies the drawn ones in a fixed order:

cut-out (1-3 rectangles filled with noise, a flat colour or a patch copied from elsewhere
in the image), colour jitter (per-channel gain x brightness, contrast about the mean luma,
saturation), grayscale, then the camera effects of :func:`facealign.data.photo_effects.degrade`
(blur, low resolution, sensor noise) and JPEG re-encoding
(:func:`~facealign.data.photo_effects.reencode_jpeg`) - the generator's own implementations.

Nothing moves: landmarks, parameters and per-pixel labels stay valid.  With every
probability 0 (or when no effect is drawn) the input array itself is returned unchanged.
Speed (a 64 px crop costs ~50 us on average with the defaults): cut-out, colour jitter
(one lookup table) and grayscale stay in uint8 with OpenCV; the noise fields are windows
of a fixed table of normal deviates.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np

from facealign.config import ConfigError, section_fields
from facealign.data import photo_effects
from facealign.data.appearance_settings import AppearanceSettings

# the effects in their fixed order: the position keys the on/off draw
EFFECTS = ("cutout", "colour_jitter", "grayscale", "blur", "low_res", "noise", "jpeg")
INT_RANGES = ("cutout_count",)


@dataclass(frozen=True)
class AugmentSettings:
    """Probabilities (0 = never, 1 = always) of the effects and ``(low, high)`` ranges of
    their strengths, sampled uniformly.  Factors are relative (1 = unchanged)."""

    colour_jitter: float = 0.8                          # brightness, contrast, saturation and gain
    brightness: tuple[float, float] = (0.7, 1.3)        # intensity factor
    contrast: tuple[float, float] = (0.7, 1.3)          # factor about the mean luma
    saturation: tuple[float, float] = (0.6, 1.4)        # chroma factor (0 = gray)
    channel_gain: tuple[float, float] = (0.9, 1.1)      # per-channel factor (white balance)
    grayscale: float = 0.15                             # monochrome image
    blur: float = 0.2                                   # Gaussian or (30 %) motion blur
    blur_sigma: tuple[float, float] = (0.5, 1.5)        # pixels
    noise: float = 0.2                                  # sensor noise (luma and chroma)
    noise_sigma: tuple[float, float] = (0.005, 0.03)    # fraction of full scale
    cutout: float = 0.3                                 # occluding rectangles
    cutout_count: tuple[int, int] = (1, 3)              # rectangles per image
    cutout_size: tuple[float, float] = (0.1, 0.4)       # rectangle sides, fraction of the image side
    jpeg: float = 0.3                                   # JPEG re-encoding
    jpeg_quality: tuple[float, float] = (20.0, 70.0)    # OpenCV JPEG quality
    low_res: float = 0.1                                # downscale then upscale
    low_res_factor: tuple[float, float] = (1.5, 3.0)    # downscale factor

    def __post_init__(self) -> None:
        for name in EFFECTS:
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise ValueError(f"{name}: probability {getattr(self, name)} outside [0, 1]")
        limits = {"brightness": 0.0, "contrast": 0.0, "saturation": 0.0, "channel_gain": 0.0,
                  "blur_sigma": 1e-3, "noise_sigma": 0.0, "cutout_count": 1, "cutout_size": 1e-3,
                  "jpeg_quality": 1.0, "low_res_factor": 1.0}
        for name, low in limits.items():
            lo, hi = getattr(self, name)
            if not low <= lo <= hi:
                raise ValueError(f"{name}: range ({lo}, {hi}) must have {low} <= low <= high")
        if self.cutout_size[1] > 1.0 or self.jpeg_quality[1] > 100.0:
            raise ValueError("cutout_size must stay within 1 and jpeg_quality within 100")

    @property
    def active(self) -> bool:
        """Whether any effect can be drawn (False: :func:`augment` is the identity)."""
        return any(float(getattr(self, name)) > 0 for name in EFFECTS)

    @classmethod
    def off(cls) -> AugmentSettings:
        """Every probability 0 (the ranges at their defaults): :func:`augment` is the identity."""
        return cls(**dict.fromkeys(EFFECTS, 0.0))

    @classmethod
    def from_section(cls, section: Mapping[str, Any] | None, name: str) -> AugmentSettings:
        """Settings from a ``params.yaml`` mapping (None: the defaults).

        Args:
            section: the mapping, e.g. ``cfg["cascade"]["augment"]``.
            name: its dotted name for messages, e.g. ``"cascade.augment"``.
        Raises:
            ConfigError: an unknown key or an invalid value; the message names the section.
        """
        values = section_fields(cls, section, name)
        ranges = {f.name for f in fields(cls) if f.name not in EFFECTS}
        try:
            for key, value in values.items():
                if key in ranges:
                    kind = int if key in INT_RANGES else float
                    values[key] = tuple(kind(v) for v in value)
                    if len(values[key]) != 2:
                        raise ValueError(f"{key}: expected [low, high], got {value!r}")
                else:
                    values[key] = float(value)
            return cls(**values)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}.{exc}") from exc


LEVELS = np.arange(256, dtype=np.float32) / 255  # the uint8 levels in [0, 1]
NORMAL_TABLE = 1 << 19  # normal deviates in the noise table (2 MiB): a 418 px RGB image


@functools.lru_cache(maxsize=32)
def _camera(settings: AugmentSettings) -> AppearanceSettings:
    """The generator's settings object carrying the camera-effect ranges of ``settings``."""
    return AppearanceSettings(blur_sigma=settings.blur_sigma, low_res_factor=settings.low_res_factor,
                              noise_sigma=settings.noise_sigma)


@functools.lru_cache(maxsize=32)
def _probabilities(settings: AugmentSettings) -> np.ndarray:
    return np.array([getattr(settings, name) for name in EFFECTS], np.float64)


@functools.lru_cache(maxsize=1)
def _normal_table() -> np.ndarray:
    return np.random.default_rng(0x5EED).standard_normal(NORMAL_TABLE, dtype=np.float32)


def normal_fields(rng: np.random.Generator) -> Callable[[tuple[int, ...]], np.ndarray]:
    """``normal(shape)``: standard-normal float32 fields for ``photo_effects.degrade``, a
    random window of a fixed table with a random sign (~20x faster than fresh draws;
    images beyond the table's size draw fresh ones)."""
    table = _normal_table()

    def normal(shape: tuple[int, ...]) -> np.ndarray:
        n = math.prod(shape)
        if n > table.size:
            return rng.standard_normal(shape, dtype=np.float32)
        start, sign = rng.random(2)
        window = table[int(start * (table.size - n + 1)) :][:n].reshape(shape)
        return window if sign < 0.5 else -window

    return normal


def cutout(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """A copy of (H, W, 3) uint8 ``image`` with ``cutout_count`` rectangles overwritten.

    Each rectangle's sides are ``cutout_size`` x the image side (pixels, at least 1); it is
    filled with uniform noise, a flat colour or the same-sized patch of the input at another
    random place (chosen with equal odds).
    """
    h, w = image.shape[:2]
    out = image.copy()
    low, high = settings.cutout_size
    for _ in range(int(rng.integers(settings.cutout_count[0], settings.cutout_count[1] + 1))):
        u = rng.random(7)  # height, width, target y, x, source y, x, fill
        rh = max(1, min(h, round((low + (high - low) * float(u[0])) * h)))
        rw = max(1, min(w, round((low + (high - low) * float(u[1])) * w)))
        y0, x0, sy, sx = (int(v) for v in u[2:6] * (h - rh + 1, w - rw + 1, h - rh + 1, w - rw + 1))
        target = out[y0 : y0 + rh, x0 : x0 + rw]
        if u[6] < 1 / 3:
            target[...] = rng.integers(0, 256, (rh, rw, 3), np.uint8)
        elif u[6] < 2 / 3:
            target[...] = rng.integers(0, 256, 3, np.uint8)
        else:
            target[...] = image[sy : sy + rh, sx : sx + rw]
    return out


def colour_jitter(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> uint8: per-channel gain x brightness and contrast about the
    mean luma as one lookup table, then saturation (a blend with the luma image)."""
    u = rng.random(6)  # three gains, brightness, contrast, saturation

    def pick(bounds: tuple[float, float], t: np.ndarray | float) -> np.ndarray | float:
        return bounds[0] + (bounds[1] - bounds[0]) * t

    gain = (pick(settings.channel_gain, u[:3]) * pick(settings.brightness, u[3])).astype(np.float32)
    mean_luma = float(photo_effects.LUMA @ (gain * np.asarray(cv2.mean(image)[:3], np.float32))) / 255
    contrast = pick(settings.contrast, u[4])
    levels = photo_effects.set_contrast(LEVELS[:, None] * gain, contrast, np.float32(mean_luma))
    table = (np.clip(levels, 0.0, 1.0) * 255 + 0.5).astype(np.uint8).reshape(1, 256, 3)
    out = cv2.LUT(image, table)
    gray = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    saturation = float(pick(settings.saturation, u[5]))
    return cv2.addWeighted(out, saturation, gray, 1.0 - saturation, 0.0)


def augment(image: np.ndarray, settings: AugmentSettings, rng: np.random.Generator) -> np.ndarray:
    """Apply the effects drawn from ``rng`` to a square (H, W, 3) uint8 RGB image.

    Deterministic given the state of ``rng``.  Returns an (H, W, 3) uint8 array: ``image``
    itself (not copied) when no effect is drawn, else a new array.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"augment expects (H, W, 3) uint8 images, got {image.shape} {image.dtype}")
    on = dict(zip(EFFECTS, (rng.random(len(EFFECTS)) < _probabilities(settings)).tolist(), strict=True))
    if not any(on.values()):
        return image
    out = np.ascontiguousarray(image)
    if on["cutout"]:
        out = cutout(out, settings, rng)
    if on["colour_jitter"]:
        out = colour_jitter(out, settings, rng)
    if on["grayscale"]:  # OpenCV's luma has photo_effects.LUMA's (Rec. 601) weights
        out = cv2.cvtColor(cv2.cvtColor(out, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    if on["blur"] or on["low_res"] or on["noise"]:
        camera = {"blur": on["blur"], "low_res": on["low_res"], "noise": on["noise"]}  # JPEG below, in uint8
        rngs = dict.fromkeys(camera, rng)
        flat = photo_effects.degrade(out.astype(np.float32) * np.float32(1 / 255), camera, _camera(settings),
                                     rngs, normal_fields(rng))
        out = (flat * 255 + 0.5).astype(np.uint8)  # degrade clips to [0, 1]
    if on["jpeg"]:  # as degrade does it, with degrade's draw of the quality
        out = photo_effects.reencode_jpeg(out, int(rng.uniform(*settings.jpeg_quality)))
    return np.ascontiguousarray(out)
