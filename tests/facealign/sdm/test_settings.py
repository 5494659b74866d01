"""The ``sdm`` section of params.yaml: valid in every preset, defaults equal to the dataclass's."""

from __future__ import annotations

from pathlib import Path

import pytest

from facealign.config import load_params
from facealign.sdm.settings import SDMSettings

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


@pytest.mark.parametrize("preset", ["default", "paper", "fast_dev_run", "real"])
def test_every_preset_gives_valid_settings(preset):
    settings = SDMSettings.from_section(load_params(PARAMS, preset=preset)["sdm"])
    assert settings.n_landmarks >= 68 and settings.iterations >= 1


def test_the_dataclass_defaults_are_the_pipeline_defaults():
    assert SDMSettings.from_section(load_params(PARAMS)["sdm"]) == SDMSettings()


def test_bad_values_and_unknown_keys_name_the_parameter():
    with pytest.raises(ValueError, match="sdm.ridge"):
        SDMSettings(ridge=(1.0, 0.0))
    with pytest.raises(ValueError, match="sdm.visibility_scale"):
        SDMSettings(visibility_scale=2.0)
    with pytest.raises(ValueError, match="unknown parameter"):
        SDMSettings.from_section({"iteration": 3})


def test_the_paper_preset_takes_the_papers_choices():
    paper = SDMSettings.from_section(load_params(PARAMS, preset="paper")["sdm"])
    assert paper.shape_update == "generic" and paper.targets == "ibug68" and paper.n_targets == 68
    assert paper.ridge_mode == "separate"
    assert (paper.n_id, paper.n_exp) == (80, 79)


def test_the_choices_of_the_papers_variants_are_checked():
    assert SDMSettings(targets="all", n_landmarks=120).n_targets == 120
    for key in ("shape_update", "targets", "ridge_mode"):
        with pytest.raises(ValueError, match=f"sdm.{key}: invalid value 'x' \\(one of "):
            SDMSettings(**{key: "x"})
    with pytest.raises(ValueError, match="sdm.lambda_camera"):
        SDMSettings(lambda_camera=(0.0,))
