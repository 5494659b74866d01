"""params.yaml + preset + command-line overrides."""

from dataclasses import dataclass
from pathlib import Path

import pytest

from facealign.config import ConfigError, flatten, load_params, section_fields

REPO = Path(__file__).resolve().parents[2]
PARAMS = """
preset: default
train: {lr: 0.1, epochs: 3}
data: {size: 120}
presets:
  default: {}
  paper: {train.epochs: 40, data.size: 450}
"""


@pytest.fixture
def params_file(tmp_path: Path) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(PARAMS)
    return path


def test_the_default_preset_keeps_the_base_values(params_file: Path) -> None:
    cfg = load_params(params_file)
    assert cfg["train"] == {"lr": 0.1, "epochs": 3} and cfg["preset"] == "default"


def test_a_preset_lays_its_dotted_keys_over_the_base(params_file: Path) -> None:
    cfg = load_params(params_file, preset="paper")
    assert cfg["train"]["epochs"] == 40 and cfg["data"]["size"] == 450 and cfg["train"]["lr"] == 0.1


def test_overrides_come_last_and_are_parsed_as_yaml(params_file: Path) -> None:
    cfg = load_params(params_file, ["train.lr=1e-3", "data.size=64"], preset="paper")
    assert cfg["train"]["lr"] == pytest.approx(1e-3) and cfg["data"]["size"] == 64


def test_unknown_keys_and_presets_are_named_in_the_error(params_file: Path) -> None:
    with pytest.raises(ConfigError, match="train.nope"):
        load_params(params_file, ["train.nope=1"])
    with pytest.raises(ConfigError, match="'huge'"):
        load_params(params_file, preset="huge")
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_params(params_file.parent / "missing.yaml")


def test_flatten_joins_nested_keys_with_dots() -> None:
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}}) == {"a.b": 1, "a.c.d": [1, 2]}


def test_the_project_params_resolve_under_every_preset() -> None:
    for preset in ("default", "paper", "fast_dev_run"):
        cfg = load_params(REPO / "params.yaml", preset=preset)
        assert cfg["face_model"]["n_id"] >= 1


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
