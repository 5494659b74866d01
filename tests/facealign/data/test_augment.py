"""Training-time augmentation: pixels change as configured, nothing else does."""

from __future__ import annotations

import numpy as np
import pytest

from facealign.config import ConfigError
from facealign.data.augment import EFFECTS, AugmentSettings, augment

OFF = dict.fromkeys(EFFECTS, 0.0)


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A (48, 48, 3) uint8 face-like image: a smooth gradient with a bright disc, y down."""
    y, x = np.mgrid[:48, :48].astype(np.float32)
    disc = ((x - 24) ** 2 + (y - 20) ** 2 < 150).astype(np.float32)
    rgb = np.stack([60 + 2 * x + 80 * disc, 40 + 3 * y + 60 * disc, 90 + x + y], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def only(effect: str, **ranges) -> AugmentSettings:
    return AugmentSettings(**{**OFF, effect: 1.0, **ranges})


def test_all_zero_probabilities_return_the_image_unchanged(image) -> None:
    settings = AugmentSettings(**OFF)
    assert not settings.active
    for seed in range(5):
        out = augment(image, settings, np.random.default_rng(seed))
        assert out.tobytes() == image.tobytes() and out.dtype == np.uint8


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_at_probability_one_changes_pixels(image, effect) -> None:
    before = image.copy()
    out = augment(image, only(effect), np.random.default_rng(3))
    assert out.shape == image.shape and out.dtype == np.uint8 and out.flags.c_contiguous
    assert np.any(out != image)
    np.testing.assert_array_equal(image, before)  # the input is not modified


def test_cutout_changes_one_rectangle_only(image) -> None:
    settings = only("cutout", cutout_count=(1, 1), cutout_size=(0.2, 0.3))
    for seed in range(10):
        changed = np.any(augment(image, settings, np.random.default_rng(seed)) != image, axis=2)
        if not changed.any():  # a patch copied onto a matching place: nothing to see
            continue
        rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
        assert rows[-1] - rows[0] < 0.3 * 48 + 1 and cols[-1] - cols[0] < 0.3 * 48 + 1
        outside = np.ones_like(changed)
        outside[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = False
        assert not changed[outside].any()


def test_grayscale_gives_equal_channels(image) -> None:
    out = augment(image, only("grayscale"), np.random.default_rng(0)).astype(int)
    assert np.abs(out[..., 0] - out[..., 1]).max() <= 1 and np.abs(out[..., 1] - out[..., 2]).max() <= 1


def test_the_same_seed_gives_the_same_image_and_another_seed_another(image) -> None:
    settings = AugmentSettings(**dict.fromkeys(EFFECTS, 0.7))
    a = augment(image, settings, np.random.default_rng(11))
    b = augment(image, settings, np.random.default_rng(11))
    c = augment(image, settings, np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_views_and_other_sizes_are_accepted(image) -> None:
    stack = np.concatenate([image, image], axis=2)  # a (48, 48, 6) stack: its first 3 channels
    out = augment(stack[..., :3], AugmentSettings(**dict.fromkeys(EFFECTS, 1.0)), np.random.default_rng(0))
    assert out.shape == (48, 48, 3) and out.dtype == np.uint8
    with pytest.raises(ValueError, match="uint8"):
        augment(image.astype(np.float32), AugmentSettings(), np.random.default_rng(0))


def test_settings_from_a_section_convert_ranges_and_reject_unknown_keys() -> None:
    settings = AugmentSettings.from_section({"blur": 1, "cutout_count": [2, 2], "jpeg_quality": [30, 40]},
                                            "cascade.augment")
    assert settings.blur == 1.0 and settings.cutout_count == (2, 2) and settings.jpeg_quality == (30.0, 40.0)
    assert AugmentSettings.from_section(None, "cascade.augment") == AugmentSettings()
    with pytest.raises(ConfigError, match=r"^cascade.augment: unknown parameter 'blurr'"):
        AugmentSettings.from_section({"blurr": 0.2}, "cascade.augment")
    with pytest.raises(ConfigError, match=r"^cascade.augment.noise: probability"):
        AugmentSettings.from_section({"noise": 1.5}, "cascade.augment")
    with pytest.raises(ConfigError, match=r"^cascade.augment.cutout_size"):
        AugmentSettings.from_section({"cutout_size": [0.5, 0.2]}, "cascade.augment")
