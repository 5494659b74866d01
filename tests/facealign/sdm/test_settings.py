"""The ``sdm`` section of params.yaml: valid in every preset, defaults equal to the dataclass's."""

from __future__ import annotations

from pathlib import Path

import pytest

from facealign.config import load_params
from facealign.sdm.settings import SDMSettings

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


@pytest.mark.parametrize("preset", ["default", "paper", "fast_dev_run"])
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
