"""Pipeline configuration: ``params.yaml`` plus a preset plus command-line overrides.

``params.yaml`` holds every pipeline parameter (DVC tracks it).  Its top-level key
``preset`` names an entry of its ``presets`` section (``default``, ``paper``,
``fast_dev_run``, ...) whose dotted keys are laid over the base values; overrides
given on the command line as ``section.key=value`` (YAML-parsed values) come last.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A parameter file or override that cannot be applied; the message names it."""


def set_dotted(cfg: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    """Set ``cfg[a][b][c] = value`` for ``dotted = "a.b.c"``; the path must already exist."""
    node = cfg
    keys = dotted.split(".")
    for key in keys[:-1]:
        if not isinstance(node.get(key), dict):
            raise ConfigError(f"{source}: unknown parameter {dotted!r} (no section {key!r})")
        node = node[key]
    if keys[-1] not in node:
        raise ConfigError(f"{source}: unknown parameter {dotted!r}")
    node[keys[-1]] = value


def parse_override(text: str) -> tuple[str, Any]:
    """``"train.lr=1e-3"`` -> ``("train.lr", 0.001)`` (the value is parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    key, raw = text.split("=", 1)
    value = yaml.safe_load(raw)
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as a string
        try:
            value = float(value)
        except ValueError:
            pass
    return key.strip(), value


def load_params(
    path: str | Path = DEFAULT_PARAMS,
    overrides: list[str] | None = None,
    preset: str | None = None,
) -> dict[str, Any]:
    """The resolved configuration as a nested dict.

    Args:
        path: the parameter file.
        overrides: ``section.key=value`` strings applied last.
        preset: a preset name that replaces the file's ``preset`` key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: parameter file not found (run from the project root)")
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    presets = raw.pop("presets", {}) or {}
    name = preset or raw.get("preset", "default")
    if name not in presets and name != "default":
        raise ConfigError(f"{path}: unknown preset {name!r} (have: {', '.join(presets)})")
    cfg = copy.deepcopy(raw)
    cfg["preset"] = name
    for dotted, value in (presets.get(name) or {}).items():
        set_dotted(cfg, dotted, value, f"{path}: preset {name!r}")
    for text in overrides or []:
        key, value = parse_override(text)
        set_dotted(cfg, key, value, "command line")
    return cfg


def flatten(cfg: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> ``{"a.b.c": value}`` (lists kept as values), e.g. for MLflow params."""
    out: dict[str, Any] = {}
    for key, value in cfg.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out
