"""Every preset of ``params.yaml`` builds every settings object, and every reader is strict.

Each preset is one test id: a preset key that a reader does not know, or a value a reader
refuses, fails here rather than deep inside a pipeline stage.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from facealign.config import ConfigError, load_params, set_dotted
from facealign.data.augment import AugmentSettings
from facealign.data.synthesize import SynthesisConfig
from facealign.models.cascade_net import NetConfig
from facealign.sdm.settings import SDMSettings
from serving.limits import ServeSettings
from training.cascade_settings import CascadeSettings
from training.dff_settings import DFFSettings, SegmentSettings
from tuning.settings import SweepSettings, resolve

PARAMS = Path(__file__).resolve().parents[1] / "params.yaml"
PRESETS = sorted(yaml.safe_load(PARAMS.read_text())["presets"])


def _dff_synthesis(cfg: dict) -> SynthesisConfig:
    """The DFF training views' settings, as ``facealign synthesize --profile dff`` builds them."""
    section = dict(cfg["synthesize"])
    section.update(cfg["dff"]["data"])
    return SynthesisConfig.from_section(section)


def test_the_presets_include_the_documented_ones() -> None:
    assert {"default", "paper", "fast_dev_run"} <= set(PRESETS)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_settings_section_builds_under_the_preset(preset: str) -> None:
    cfg = load_params(PARAMS, preset=preset)
    cascade = CascadeSettings.from_section(cfg["cascade"])
    net = NetConfig.from_section(cascade.net)
    assert cascade.stages >= 1 and net.image_stream
    synth = SynthesisConfig.from_section(cfg["synthesize"])
    dff = DFFSettings.from_section(cfg["dff"])
    dff_synth = _dff_synthesis(cfg)
    assert dff_synth == SynthesisConfig.from_section(dff.synthesis_section(cfg["synthesize"]))
    assert dff_synth.image_size == cfg["dff"]["data"].get("image_size", synth.image_size)
    assert SDMSettings.from_section(cfg["sdm"]).iterations >= 1
    assert ServeSettings.from_section(cfg["serve"]).max_body_bytes > 0
    assert dff.train.max_epochs >= 1 and dff.net.widths
    assert SegmentSettings.from_section(cfg["segment"]).n_patches >= 1
    sweep = resolve(cfg["tune"], {})
    assert sweep.model in ("cascade", "dff")
    # the cascade trains on augmented photos (DFF's and SDM's are off by default: they measured worse)
    assert cascade.augment.active


@pytest.mark.parametrize("preset", PRESETS)
@pytest.mark.parametrize("family", ["cascade", "dff"])
def test_the_sweep_train_overrides_keep_the_sections_valid(preset: str, family: str) -> None:
    cfg = load_params(PARAMS, preset=preset)
    sweep = resolve(cfg["tune"], {"model": family})
    assert isinstance(sweep, SweepSettings)
    for dotted, value in sweep.train_overrides.items():
        set_dotted(cfg, dotted, value, "tune.train_overrides")
    if family == "cascade":
        CascadeSettings.from_section(cfg["cascade"])
    else:
        DFFSettings.from_section(cfg["dff"])


def test_the_dff_dataclass_defaults_are_the_pipeline_defaults() -> None:
    assert DFFSettings.from_section(load_params(PARAMS)["dff"]) == DFFSettings()


def test_the_augmentation_defaults_are_the_pipeline_defaults() -> None:
    cfg = load_params(PARAMS)
    assert CascadeSettings.from_section(cfg["cascade"]).augment == AugmentSettings()
    assert SDMSettings.from_section(cfg["sdm"]).augment == SDMSettings().augment
    assert not SDMSettings().augment.active


# section (dotted path in cfg) -> builds the settings that read it
READERS: dict[str, Callable[[dict], Any]] = {
    "cascade": lambda cfg: CascadeSettings.from_section(cfg["cascade"]),
    "cascade.net": lambda cfg: NetConfig.from_section(cfg["cascade"]["net"]),
    "cascade.augment": lambda cfg: CascadeSettings.from_section(cfg["cascade"]),
    "synthesize": lambda cfg: SynthesisConfig.from_section(cfg["synthesize"]),
    "dff": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "dff.data": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "dff.net": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "dff.loss": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "dff.train": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "dff.train.augment": lambda cfg: DFFSettings.from_section(cfg["dff"]),
    "sdm": lambda cfg: SDMSettings.from_section(cfg["sdm"]),
    "sdm.augment": lambda cfg: SDMSettings.from_section(cfg["sdm"]),
    "serve": lambda cfg: ServeSettings.from_section(cfg["serve"]),
    "segment": lambda cfg: SegmentSettings.from_section(cfg["segment"]),
}


@pytest.mark.parametrize("section", list(READERS))
def test_an_unknown_key_names_the_key_and_the_section(section: str) -> None:
    cfg = copy.deepcopy(load_params(PARAMS))
    node = cfg
    for key in section.split("."):
        node = node[key]
    node["no_such_key"] = 1
    with pytest.raises(ConfigError, match=rf"^{section}: unknown parameter 'no_such_key' \(known: "):
        READERS[section](cfg)


def test_a_typo_in_dff_train_is_refused() -> None:
    cfg = load_params(PARAMS)
    cfg["dff"]["train"]["lrr"] = cfg["dff"]["train"].pop("lr")
    with pytest.raises(ConfigError, match="dff.train: unknown parameter 'lrr'"):
        DFFSettings.from_section(cfg["dff"])


def test_the_section_extras_are_accepted() -> None:
    cfg = load_params(PARAMS)
    assert {"n_train", "n_test", "workers"} <= set(cfg["synthesize"])
    assert "threads_per_request" in cfg["serve"]
    SynthesisConfig.from_section(cfg["synthesize"])
    ServeSettings.from_section(cfg["serve"])


def test_a_bad_class_vector_init_is_refused() -> None:
    cfg = load_params(PARAMS)
    cfg["dff"]["loss"]["init"] = "orthogonal"
    with pytest.raises(ConfigError, match="dff.loss.init"):
        DFFSettings.from_section(cfg["dff"])


def test_the_segment_dataclass_defaults_are_the_pipeline_defaults() -> None:
    assert SegmentSettings.from_section(load_params(PARAMS)["segment"]) == SegmentSettings()


@pytest.mark.parametrize(("command", "setting", "message"), [
    ("segment", "segment.n_patches=abc", "segment.n_patches: 'abc' is not an integer"),
    ("segment", "segment.metric=manhattan", "segment.metric: 'manhattan' is not one of graph, euclidean"),
    ("train-cascade", "cascade.lr=abc", "cascade.lr: 'abc' is not a number"),
    ("train-cascade", "cascade.max_epochs=-1", "cascade.max_epochs: -1 is not >= 1"),
    ("train-dff", "dff.train.val_fraction=2", "dff.train.val_fraction: 2 is not in [0, 1]"),
    ("fit-sdm --descriptor sift", "sdm.iterations=0", "sdm.iterations: 0 is not >= 1"),
    ("synthesize", "synthesize.image_size=big", "synthesize.image_size: 'big' is not an integer"),
])
def test_a_set_of_the_wrong_type_or_range_is_one_line_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, setting: str, message: str) -> None:
    from commands.cli import main

    missing = tmp_path / "no-such-model.npz"  # reached only if the setting slipped through
    assert main([*command.split(), "--params", str(PARAMS), "--set", setting,
                 "--set", f"paths.face_model={missing}"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"facealign {command.split()[0]}: error: {message}"
