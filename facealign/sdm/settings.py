"""The ``sdm`` section of ``params.yaml`` as a typed, validated dataclass."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from facealign.config import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range, section_fields
from facealign.data.augment import AugmentSettings

DESCRIPTORS = ("dff", "sift")


@dataclass(frozen=True)
class SDMSettings:
    """SDM parameters (sizes in pixels, angles in degrees, fractions of the crop or box).

    Attributes:
        n_landmarks: landmark vertices (68 iBUG + farthest-point samples).
        iterations: descent maps in the cascade.
        n_id, n_exp: leading identity / expression components fitted per iteration.
        shape_noise: landmark noise of the shape prior, fraction of the crop side.
        crop_scale: crop side / longer side of the face box.
        visibility_scale: per-iteration z-buffer size relative to the crop.
        ridge: relative ridge strengths (see :func:`facealign.sdm.regression.ridge`); with
            several, each iteration picks one by cross-validation
            (:func:`facealign.sdm.regression.select_ridge`), so DFF and SIFT each get theirs.
        cv_folds: cross-validation folds; the training estimates move by out-of-fold
            predictions (< 2: no cross-validation, in-sample updates, first strength).
        train_images: training images fitted (0 = all of the training folder but the
            validation images).
        validation_images: further training-folder images held out for validation.
        inits_per_image: initial estimates per training image (the first unperturbed).
        perturb_scale: std of the log-scale perturbation of the initial camera.
        perturb_shift: std of the initial shift, fraction of the face box size.
        perturb_angle_deg: std of the initial pitch, yaw and roll, degrees.
        sift_image_size: SIFT working crop side, pixels.
        sift_patch: SIFT descriptor window width, fraction of the crop side.
        dff_model: directory of the trained DFF extractor.
        dff_batch_size: crops per DFF network pass.
        seed: seed of the subset choice and the perturbations.
        evaluate_test: also evaluate on the test split after fitting (logged to MLflow; the
            ``evaluate_*_sdm`` stages do this anyway, so it is off by default).
        augment: photometric / cut-out augmentation of the training crops before their
            descriptors are computed (``sdm.augment``; validation crops are not augmented);
            off by default (every probability 0), as measured best for SIFT-SDM.
    """

    n_landmarks: int = 160
    iterations: int = 3
    n_id: int = 60
    n_exp: int = 29
    shape_noise: float = 0.01
    crop_scale: float = 1.5
    visibility_scale: float = 0.5
    ridge: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    cv_folds: int = 3
    train_images: int = 1000
    validation_images: int = 100
    inits_per_image: int = 1
    perturb_scale: float = 0.05
    perturb_shift: float = 0.04
    perturb_angle_deg: float = 3.0
    sift_image_size: int = 120
    sift_patch: float = 0.35
    dff_model: str = "models/dff"
    dff_batch_size: int = 32
    seed: int = 6
    evaluate_test: bool = False
    augment: AugmentSettings = field(default_factory=AugmentSettings.off)

    LIMITS: ClassVar[dict[str, Range]] = {
        "n_landmarks": AT_LEAST_ONE, "iterations": AT_LEAST_ONE, "n_id": NON_NEGATIVE, "n_exp": NON_NEGATIVE,
        "shape_noise": NON_NEGATIVE, "crop_scale": POSITIVE, "visibility_scale": POSITIVE,
        "ridge": NON_NEGATIVE, "cv_folds": NON_NEGATIVE, "train_images": NON_NEGATIVE,
        "validation_images": NON_NEGATIVE, "inits_per_image": AT_LEAST_ONE, "perturb_scale": NON_NEGATIVE,
        "perturb_shift": NON_NEGATIVE, "perturb_angle_deg": NON_NEGATIVE, "sift_image_size": AT_LEAST_ONE,
        "sift_patch": POSITIVE, "dff_batch_size": AT_LEAST_ONE,
    }

    def __post_init__(self) -> None:
        checks = {
            "n_landmarks": self.n_landmarks >= 68, "iterations": self.iterations >= 1,
            "n_id": self.n_id >= 0, "n_exp": self.n_exp >= 0, "shape_noise": self.shape_noise > 0,
            "crop_scale": self.crop_scale > 0,
            "visibility_scale": 0 < self.visibility_scale <= 1,
            "ridge": len(self.ridge) > 0 and min(self.ridge) > 0,
            "train_images": self.train_images >= 0,
            "validation_images": self.validation_images >= 0, "inits_per_image": self.inits_per_image >= 1,
            "sift_image_size": self.sift_image_size >= 16, "sift_patch": self.sift_patch > 0,
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"sdm.{name}: invalid value {getattr(self, name)!r}")

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> SDMSettings:
        """From ``cfg["sdm"]``; unknown keys are errors that name the key."""
        defaults = cls()
        values = {}
        for key, value in section_fields(cls, section, "sdm").items():
            if key == "augment":
                values[key] = AugmentSettings.from_section(value, "sdm.augment")
            elif isinstance(getattr(defaults, key), tuple):
                items = value if isinstance(value, list | tuple) else [value]
                values[key] = tuple(float(v) for v in items)
            else:
                values[key] = type(getattr(defaults, key))(value)
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
