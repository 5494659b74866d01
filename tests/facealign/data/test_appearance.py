"""Photo-like appearance effects: switchable by probability, labels untouched, seeded."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import yaml

from facealign.config import ConfigError
from facealign.data.appearance import region_weights, sample_appearance
from facealign.data.appearance_settings import EFFECTS, AppearanceSettings
from facealign.data.render_face import render_face, sample_pose
from facealign.data.scene import Look
from facealign.data.synthesize import (
    SynthesisConfig,
    load_occlusion,
    occlusion_path,
    sample_face,
    write_sample,
)
from facegeom import parameters
from facegeom.morphable_model import MorphableModel

REPO = Path(__file__).resolve().parents[3]
OFF = AppearanceSettings.none()
SIZE = 96
# Effects whose pixels all lie on the face mesh, and those that only touch the background.
ON_FACE = ("eyes", "mouth", "skin_detail", "specular", "hard_light")
OFF_FACE = ("clutter", "body")
PARENT = {"long_hair": "hair", "fringe": "hair", "sunglasses": "glasses"}


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


@pytest.fixture(scope="module")
def frontal(model: MorphableModel):
    """A frontal face with the jaw open, its appearance and its plain render."""
    rng = np.random.default_rng(0)
    a_id, a_exp = np.zeros(model.n_id), np.zeros(model.n_exp)
    a_exp[0] = 2.5 * model.exp_std[0]
    shape = model.vertices(a_id, a_exp)
    pose = sample_pose(model, rng, SIZE, 5.0, 0.0, 0.0, 0.6, 0.0, shape)
    params = parameters.join(pose, a_id, a_exp)
    appearance = sample_appearance(model, region_weights(model), rng, SIZE)
    return params, appearance


def _render(model, frontal, settings: AppearanceSettings | None):
    params, appearance = frontal
    look = None if settings is None else Look(settings, [1, 0, 0])
    return render_face(model, params, appearance, SIZE, look=look)


def _only(effect: str) -> AppearanceSettings:
    on = {effect: 1.0, PARENT.get(effect, effect): 1.0}
    return replace(OFF, **on)


def test_params_yaml_section_matches_the_defaults() -> None:
    section = yaml.safe_load((REPO / "params.yaml").read_text())["synthesize"]
    assert SynthesisConfig.from_section(section) == SynthesisConfig()
    assert set(section["appearance"]) == set(AppearanceSettings.__dataclass_fields__)


def test_unknown_keys_are_rejected_naming_key_and_section() -> None:
    with pytest.raises(ConfigError, match=r"^synthesize\.appearance: unknown parameter 'hiar'"):
        AppearanceSettings.from_section({"hiar": 0.5})
    with pytest.raises(ConfigError, match=r"^synthesize\.appearance: unknown parameter 'bogus'"):
        SynthesisConfig.from_section({"appearance": {"bogus": 1}})
    with pytest.raises(ConfigError, match=r"^synthesize: unknown parameter 'imagesize'"):
        SynthesisConfig.from_section({"imagesize": 64})
    with pytest.raises(ValueError, match="glasses"):
        AppearanceSettings.from_section({"glasses": 1.5})


def test_all_probabilities_zero_render_exactly_the_plain_face(model, frontal) -> None:
    assert np.array_equal(_render(model, frontal, OFF).image, _render(model, frontal, None).image)


@pytest.mark.parametrize("effect", EFFECTS)
def test_each_effect_at_probability_one_changes_pixels_where_expected(model, frontal, effect) -> None:
    base = _render(model, frontal, OFF)
    face = _render(model, frontal, _only(effect))
    changed = np.abs(face.image.astype(int) - base.image.astype(int)).max(2) > 3
    parent = _render(model, frontal, _only(PARENT[effect])) if effect in PARENT else base
    assert (face.image != parent.image).any(), f"{effect} left the image unchanged"
    mask = base.raster.mask
    if effect in ON_FACE:
        assert changed[mask].any() and not changed[_grow(mask, 2) == 0].any()
    if effect in OFF_FACE:
        assert changed[~mask].any() and not changed[_grow(mask, -2) > 0].any()
    if effect in ("hat", "hand", "fringe", "sunglasses", "face_strands"):
        assert face.occluded is not None and face.occluded.any()
        assert not face.occluded[~mask].any()


def _grow(mask: np.ndarray, px: int) -> np.ndarray:
    import cv2

    m = mask.astype(np.uint8)
    k = np.ones((2 * abs(px) + 1, 2 * abs(px) + 1), np.uint8)
    return cv2.dilate(m, k) if px > 0 else cv2.erode(m, k)


def test_labels_do_not_depend_on_the_appearance(model) -> None:
    regions = region_weights(model)
    plain = SynthesisConfig(image_size=64, seed=5, appearance=OFF)
    full = SynthesisConfig(image_size=64, seed=5, appearance=replace(OFF, **{e: 1.0 for e in EFFECTS}))
    for index in range(3):
        p0, f0, y0 = sample_face(model, plain, "train", index, regions)
        p1, f1, y1 = sample_face(model, full, "train", index, regions)
        assert np.array_equal(p0, p1) and y0 == y1
        assert np.array_equal(f0.image_vertices, f1.image_vertices)
        assert np.array_equal(f0.raster.triangle, f1.raster.triangle)
        assert np.array_equal(f0.visible, f1.visible)
        assert not np.array_equal(f0.image, f1.image)


def test_samples_are_a_pure_function_of_the_seed(model) -> None:
    regions = region_weights(model)
    cfg = SynthesisConfig(image_size=64, seed=9)
    a = sample_face(model, cfg, "train", 4, regions)[1].image
    b = sample_face(model, cfg, "train", 4, regions)[1].image
    c = sample_face(model, replace(cfg, seed=10), "train", 4, regions)[1].image
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_occluded_face_pixels_are_written_beside_the_image(model, tmp_path: Path) -> None:
    cfg = SynthesisConfig(image_size=64, seed=2, appearance=replace(OFF, hand=1.0, hat=1.0))
    regions = region_weights(model)
    write_sample(model, cfg, "train", tmp_path, regions, 0)
    face = sample_face(model, cfg, "train", 0, regions)[1]
    image = tmp_path / "train_000000.jpg"
    assert occlusion_path(image).is_file()
    assert np.array_equal(load_occlusion(image, 64, 64), face.occluded)
    assert not load_occlusion(tmp_path / "missing.jpg", 64, 64).any()


def test_the_sample_grid_is_written(tiny_model_path: Path, tmp_path: Path) -> None:
    from facealign.data.sample_grid import main

    out = tmp_path / "grid.png"
    args = ["--output", str(out), "--model", str(tiny_model_path), "--rows", "1", "--cols", "2",
            "--tile", "48", "--real", str(tmp_path / "none"), "--params", str(REPO / "params.yaml")]
    assert main(args) == 0
    assert out.is_file()
