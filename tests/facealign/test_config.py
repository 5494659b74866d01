"""params.yaml (composed from conf/ and a preset) + command-line overrides."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from facealign.config import (
    ConfigError,
    compose_params,
    flatten,
    load_params,
    params_drift,
    params_text,
    preset_names,
    section_fields,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = """
defaults:
  - _self_
  - preset: default
preset: default
train: {lr: 0.1, epochs: 3, stages: [4, 2]}
data: {size: 120}
"""
PRESETS = {
    "default": "# @package _global_\npreset: default\n",
    "paper": "# @package _global_\npreset: paper\ntrain: {epochs: 40, stages: 8}\ndata: {size: 450}\n",
}


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    """A project with conf/config.yaml, two presets and params.yaml composed with the default."""
    (tmp_path / "conf" / "preset").mkdir(parents=True)
    (tmp_path / "conf" / "config.yaml").write_text(CONFIG)
    for name, text in PRESETS.items():
        (tmp_path / "conf" / "preset" / f"{name}.yaml").write_text(text)
    path = tmp_path / "params.yaml"
    path.write_text(params_text(compose_params(tmp_path / "conf")))
    return path


def test_params_yaml_holds_the_base_under_the_default_preset(params_file: Path) -> None:
    cfg = load_params(params_file)
    assert cfg["train"] == {"lr": 0.1, "epochs": 3, "stages": [4, 2]} and cfg["preset"] == "default"
    assert "defaults" not in cfg and "presets" not in cfg


def test_a_preset_is_merged_over_the_base_and_replaces_lists_whole(params_file: Path) -> None:
    cfg = load_params(params_file, preset="paper")
    assert cfg["train"] == {"lr": 0.1, "epochs": 40, "stages": 8} and cfg["data"]["size"] == 450
    assert cfg["preset"] == "paper"
    assert load_params(params_file)["train"]["epochs"] == 3  # params.yaml itself is untouched


def test_overrides_come_after_the_preset_and_are_parsed_as_yaml(params_file: Path) -> None:
    cfg = load_params(params_file, ["train.lr=1e-3", "data.size=64"], preset="paper")
    assert cfg["train"]["lr"] == pytest.approx(1e-3) and cfg["data"]["size"] == 64
    assert compose_params(params_file.parent / "conf", "paper", ["data.size=64"])["data"]["size"] == 64


def test_unknown_keys_and_presets_are_named_in_the_error(params_file: Path) -> None:
    with pytest.raises(ConfigError, match="train.nope"):
        load_params(params_file, ["train.nope=1"])
    with pytest.raises(ConfigError, match=r"unknown preset 'huge' \(have: default, paper\)"):
        load_params(params_file, preset="huge")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_params(params_file.parent / "missing.yaml")
    with pytest.raises(ConfigError, match="train.nope"):
        compose_params(params_file.parent / "conf", "paper", ["train.nope=1"])


def test_a_preset_key_the_base_lacks_is_refused_naming_the_file(params_file: Path) -> None:
    (params_file.parent / "conf" / "preset" / "typo.yaml").write_text(
        "# @package _global_\npreset: typo\ntrain: {epochz: 4}\n")
    with pytest.raises(ConfigError, match=r"typo\.yaml: unknown parameter 'train\.epochz'"):
        load_params(params_file, preset="typo")


def test_drift_lists_the_keys_edited_in_params_yaml(params_file: Path) -> None:
    assert params_drift(params_file) == []
    params_file.write_text(params_file.read_text().replace("size: 120", "size: 96"))
    assert params_drift(params_file) == ["data.size"]


def test_the_project_presets_are_the_files_of_conf_preset() -> None:
    assert {"default", "paper", "fast_dev_run"} <= set(preset_names(REPO / "conf"))


def test_the_project_params_yaml_is_conf_composed_with_the_default_preset() -> None:
    """What `make run` runs (dvc repro on params.yaml) is conf/ under the default preset, unchanged."""
    assert load_params(REPO / "params.yaml")["preset"] == "default"
    assert params_drift(REPO / "params.yaml") == [], "run `facealign params --preset default`"
    assert (REPO / "params.yaml").read_text() == params_text(compose_params(REPO / "conf", "default"))


def test_the_project_params_resolve_under_every_preset() -> None:
    for preset in preset_names(REPO / "conf"):
        cfg = load_params(REPO / "params.yaml", preset=preset)
        assert cfg["face_model"]["n_id"] >= 1 and cfg["preset"] == preset


def test_flatten_joins_nested_keys_with_dots() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}}) == {"a.b": 1, "a.c.d": [1, 2]}


@dataclass(frozen=True)
class _Settings:
    lr: float = 0.1
    epochs: int = 3


def test_section_fields_returns_the_fields_given_and_drops_the_extras() -> None:
    assert section_fields(_Settings, {"lr": 0.5, "workers": 2}, "train", extra=["workers"]) == {"lr": 0.5}
    assert section_fields(_Settings, None, "train") == {}
    assert section_fields(_Settings, {}, "train") == {}


def test_section_fields_names_the_unknown_key_the_section_and_the_known_keys() -> None:
    message = r"^train\.opt: unknown parameter 'lrr' \(known: epochs, lr, workers\)$"
    with pytest.raises(ConfigError, match=message):
        section_fields(_Settings, {"lrr": 0.5}, "train.opt", extra=("workers",))
    with pytest.raises(ConfigError, match="unknown parameters 'a', 'b'"):
        section_fields(_Settings, {"a": 1, "lr": 1, "b": 2}, "train")
    with pytest.raises(ValueError, match="train: expected a mapping"):
        section_fields(_Settings, [1, 2], "train")  # type: ignore[arg-type]


@dataclass(frozen=True)
class _Typed:
    LIMITS = {}  # replaced below: a plain class attribute, not a field
    epochs: int | list[int] = 3
    lr: float = 0.1
    fraction: float = 0.5
    size: tuple[int, int] = (1, 2)
    name: str = "x"
    on: bool = True
    minutes: float | None = None
    knobs: dict = None  # type: ignore[assignment]


def _limits() -> dict:
    from facealign.config import AT_LEAST_ONE, FRACTION, POSITIVE

    return {"epochs": AT_LEAST_ONE, "lr": POSITIVE, "fraction": FRACTION, "size": AT_LEAST_ONE}


@pytest.mark.parametrize(("values", "message"), [
    ({"lr": "abc"}, "train.lr: 'abc' is not a number"),
    ({"epochs": 2.5}, "train.epochs: 2.5 is not an integer or a list of integers"),
    ({"epochs": True}, "train.epochs: True is not an integer or a list of integers"),
    ({"size": [1, 2, 3]}, "train.size: [1, 2, 3] is not a list of 2 integers"),
    ({"name": 3}, "train.name: 3 is not a string"),
    ({"on": "yes please"}, "train.on: 'yes please' is not true or false"),
    ({"minutes": "soon"}, "train.minutes: 'soon' is not a number (or null)"),
    ({"knobs": [1]}, "train.knobs: [1] is not a mapping"),
    ({"epochs": -1}, "train.epochs: -1 is not >= 1"),
    ({"epochs": [3, 0]}, r"train.epochs[1]: 0 is not >= 1"),
    ({"lr": 0}, "train.lr: 0 is not > 0"),
    ({"fraction": 1.5}, "train.fraction: 1.5 is not in [0, 1]"),
])
def test_section_fields_refuses_a_value_of_the_wrong_type_or_range_naming_the_parameter(
        monkeypatch: pytest.MonkeyPatch, values: dict, message: str) -> None:
    monkeypatch.setattr(_Typed, "LIMITS", _limits())
    with pytest.raises(ConfigError) as exc:
        section_fields(_Typed, values, "train")
    assert str(exc.value) == message


def test_section_fields_accepts_what_the_annotations_allow(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Typed, "LIMITS", _limits())
    ok = {"epochs": [3, 4], "lr": 2, "fraction": 0, "size": [3, 4], "name": "y", "on": False,
          "minutes": None, "knobs": {"a": 1}}
    assert section_fields(_Typed, ok, "train") == ok


def test_a_set_type_error_names_the_key_on_the_command_line(capsys: pytest.CaptureFixture[str]) -> None:
    from commands.cli import main

    code = main(["train-dff", "--params", str(REPO / "params.yaml"), "--set", "dff.train.lr=abc"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err == "facealign train-dff: error: dff.train.lr: 'abc' is not a number"
