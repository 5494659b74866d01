"""Pipeline configuration: ``params.yaml`` plus a preset plus command-line overrides.

``params.yaml`` holds every pipeline parameter (DVC tracks it).  Its top-level key
``preset`` names an entry of its ``presets`` section (``default``, ``paper``,
``fast_dev_run``, ...) whose dotted keys are laid over the base values; overrides
given on the command line as ``section.key=value`` (YAML-parsed values) come last.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

DEFAULT_PARAMS = Path("params.yaml")


class ConfigError(ValueError):
    """A parameter file or override that cannot be applied; the message names it."""


def section_fields(cls: type, section: Mapping[str, Any] | None, name: str,
                   extra: Iterable[str] = ()) -> dict[str, Any]:
    """The entries of a ``params.yaml`` section that are fields of the dataclass ``cls``.

    The one strict reader behind every ``from_section``: each key of ``section`` must be a
    field of ``cls`` or one of ``extra`` (keys of the same section that other code reads,
    e.g. ``synthesize.n_train``); the ``extra`` entries are left out of the result.

    Args:
        cls: the settings dataclass.
        section: the section's mapping (None reads as empty).
        name: the section's dotted name for messages, e.g. ``"cascade.net"`` or ``"dff.train"``.
        extra: further accepted keys that are not fields of ``cls``.
    Returns:
        ``{field: value}`` for the fields given in ``section`` (values unconverted).
    Raises:
        ConfigError: ``section`` is not a mapping, or has a key that is neither a field nor
            in ``extra``; the message names the key and the section, e.g.
            ``synthesize: unknown parameter 'n_trian' (known: ...)``.
    """
    if section is None:
        return {}
    if not isinstance(section, Mapping):
        raise ConfigError(f"{name}: expected a mapping of parameters, got {type(section).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}
    known = fields | set(extra)
    unknown = [str(key) for key in section if key not in known]
    if unknown:
        listed = ", ".join(repr(key) for key in unknown)
        plural = "s" if len(unknown) > 1 else ""
        raise ConfigError(f"{name}: unknown parameter{plural} {listed} (known: {', '.join(sorted(known))})")
    return {key: value for key, value in section.items() if key in fields}


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
