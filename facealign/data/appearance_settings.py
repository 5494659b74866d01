"""The ``synthesize.appearance`` section of ``params.yaml``: photo-like domain randomisation.

Every effect is switched on per sample with its own probability (0 = never, which leaves
the render exactly as without the effect; 1 = always).  Ranges are ``(low, high)`` and are
sampled uniformly; sizes are output-image pixels, intensities fractions of full scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from facealign.config import section_fields

# The effects in their fixed order: each one's on/off draw and its own random stream are
# keyed by this position, so switching one effect never changes how another one looks.
EFFECTS = (
    "hair", "long_hair", "fringe", "eyes", "mouth", "skin_detail", "specular", "hard_light",
    "cast_shadow", "body", "glasses", "sunglasses", "hat", "hand", "face_strands", "clutter",
    "grayscale", "sepia", "colour_cast", "blur", "low_res", "noise", "jpeg",
)
RANGES = ("blur_sigma", "low_res_factor", "noise_sigma", "jpeg_quality", "shadow_strength")


@dataclass(frozen=True)
class AppearanceSettings:
    """Probabilities of the appearance effects and the ranges of their strengths.

    ``long_hair`` and ``fringe`` apply to faces that have hair; ``sunglasses`` to faces
    with glasses; ``sepia`` wins over ``grayscale`` when both are drawn.
    """

    hair: float = 0.85           # scalp hair on the mesh and a hair mass around the head (else bald)
    long_hair: float = 0.4       # hair falls to the shoulders
    fringe: float = 0.3          # strands over the forehead (occluder)
    eyes: float = 1.0            # sclera, iris, pupil, lids and lashes
    mouth: float = 1.0           # dark mouth interior and teeth when the lips part
    skin_detail: float = 0.9     # pore-scale noise, blotches and blemishes
    specular: float = 0.6        # Blinn-Phong highlights
    hard_light: float = 0.25     # low ambient, strong side light
    cast_shadow: float = 0.2     # a hard-edged shadow across the image
    body: float = 0.9            # neck, shoulders and clothing below the head
    glasses: float = 0.15        # frames (occluder)
    sunglasses: float = 0.25     # dark lenses, given glasses
    hat: float = 0.1             # a cap or beanie over the scalp (occluder)
    hand: float = 0.08           # a hand in front of the lower face (occluder)
    face_strands: float = 0.1    # loose hair strands across the face (occluder)
    clutter: float = 0.85        # shapes, lines, gradients and textures in the background
    grayscale: float = 0.2       # monochrome print
    sepia: float = 0.08          # brown-toned print
    colour_cast: float = 0.35    # white-balance, gamma and contrast change
    blur: float = 0.25           # Gaussian or motion blur
    low_res: float = 0.15        # downscale then upscale
    noise: float = 0.25         # sensor noise (luma and chroma)
    jpeg: float = 0.3           # strong JPEG compression
    blur_sigma: tuple[float, float] = (0.5, 1.5)        # output pixels
    low_res_factor: tuple[float, float] = (1.5, 3.5)    # downscale factor
    noise_sigma: tuple[float, float] = (0.005, 0.03)     # fraction of full scale
    jpeg_quality: tuple[float, float] = (15.0, 60.0)    # OpenCV JPEG quality
    shadow_strength: tuple[float, float] = (0.3, 0.65)  # fraction of light removed

    def __post_init__(self) -> None:
        for name in EFFECTS:
            p = getattr(self, name)
            if not 0.0 <= float(p) <= 1.0:
                raise ValueError(f"synthesize.appearance.{name}: probability {p} outside [0, 1]")
        for name in RANGES:
            lo, hi = getattr(self, name)
            if lo > hi:
                raise ValueError(f"synthesize.appearance.{name}: low {lo} above high {hi}")

    @classmethod
    def from_section(cls, section: dict[str, Any] | None,
                     where: str = "synthesize.appearance") -> AppearanceSettings:
        """Settings from a ``params.yaml`` mapping; an unknown key is a ConfigError naming it."""
        section = section_fields(cls, section, where)
        for key in RANGES:
            if key in section:
                section[key] = tuple(float(v) for v in section[key])
        return cls(**section)

    @classmethod
    def none(cls) -> AppearanceSettings:
        """Every effect off: the plain renders of the generator before domain randomisation."""
        return cls(**{name: 0.0 for name in EFFECTS})
