"""Pipeline configuration: ``params.yaml`` plus a preset plus command-line overrides.

``params.yaml`` holds every pipeline parameter (DVC tracks it).  Its top-level key
``preset`` names an entry of its ``presets`` section (``default``, ``paper``,
``fast_dev_run``, ...) whose dotted keys are laid over the base values; overrides
given on the command line as ``section.key=value`` (YAML-parsed values) come last.
"""

from __future__ import annotations

import copy
import dataclasses
import types
import typing
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
        extra: further accepted keys that are not fields of ``cls`` (a ``{key: type}``
            mapping also checks their values' types).
    Returns:
        ``{field: value}`` for the fields given in ``section`` (values unconverted).
    Raises:
        ConfigError: ``section`` is not a mapping, has a key that is neither a field nor in
            ``extra``, a value of another type than its field's annotation (``int``,
            ``float``, ``bool``, ``str``, lists / tuples of them, mappings, unions; nested
            settings dataclasses are left to their own reader), or a value outside its
            :class:`Range` in ``cls.LIMITS`` (a ``{field: Range}`` class attribute, if any).
            The message names the parameter, e.g. ``synthesize: unknown parameter 'n_trian'
            (known: ...)``, ``cascade.lr: 'abc' is not a number``,
            ``cascade.max_epochs[0]: -1 is not >= 1``.
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
    values = {key: value for key, value in section.items() if key in fields}
    check_values(cls, values, name)
    if isinstance(extra, Mapping):  # {key: type} extras are type-checked too
        for key, hint in extra.items():
            if key in section and not _matches(section[key], hint):
                raise ConfigError(f"{name}.{key}: {section[key]!r} is not {_describe(hint)}")
    return values


@dataclasses.dataclass(frozen=True)
class Range:
    """Bounds of a numeric parameter (each number of a list parameter): ``low`` (inclusive,
    or exclusive with ``open_low``) and ``high`` (inclusive); None: unbounded."""

    low: float | None = None
    high: float | None = None
    open_low: bool = False

    def describe(self) -> str:
        if self.high is None:
            return f"{'>' if self.open_low else '>='} {self.low:g}"
        return f"in {'(' if self.open_low else '['}{self.low:g}, {self.high:g}]"

    def contains(self, x: float) -> bool:
        if self.low is not None and (x <= self.low if self.open_low else x < self.low):
            return False
        return self.high is None or x <= self.high


POSITIVE = Range(0, open_low=True)  # > 0: sizes, learning rates, scales
AT_LEAST_ONE = Range(1)             # >= 1: epochs, stages, batch sizes
NON_NEGATIVE = Range(0)             # >= 0: counts, noise levels, weight decay
FRACTION = Range(0, 1)              # [0, 1]: probabilities and fractions


def check_values(cls: type, values: Mapping[str, Any], name: str) -> None:
    """Type and range checks of ``values`` against the fields of the dataclass ``cls`` (see
    :func:`section_fields`); raises :class:`ConfigError` naming ``<name>.<key>``."""
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be evaluated here: no type checks
        hints = {}
    limits: Mapping[str, Range] = getattr(cls, "LIMITS", {}) or {}
    for key, value in values.items():
        where = f"{name}.{key}"
        if key in hints and not _matches(value, hints[key]):
            raise ConfigError(f"{where}: {value!r} is not {_describe(hints[key])}")
        if key in limits:
            _check_range(where, value, limits[key])


def _check_range(where: str, value: Any, bounds: Range) -> None:
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_range(f"{where}[{i}]", item, bounds)
    elif isinstance(value, int | float) and not isinstance(value, bool) and not bounds.contains(value):
        raise ConfigError(f"{where}: {value!r} is not {bounds.describe()}")


def _union_args(hint: Any) -> tuple[Any, ...] | None:
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else None


def _matches(value: Any, hint: Any) -> bool:
    """Whether ``value`` (read from YAML) fits the annotation ``hint``; unknown forms fit."""
    if hint is Any:
        return True
    if hint is type(None):
        return value is None
    options = _union_args(hint)
    if options is not None:
        return any(_matches(value, option) for option in options)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple):
        if not isinstance(value, list | tuple):
            return False
        if origin is tuple and args and args[-1] is not Ellipsis:
            return len(value) == len(args) and all(_matches(v, a) for v, a in zip(value, args, strict=True))
        return not args or all(_matches(v, args[0]) for v in value)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return isinstance(value, Mapping)
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True  # nested settings dataclasses and other classes: their own reader checks them


_NAMES = {bool: ("true or false", "booleans"), int: ("an integer", "integers"),
          float: ("a number", "numbers"), str: ("a string", "strings")}


def _describe(hint: Any, plural: bool = False) -> str:
    """``int`` -> "an integer", ``list[int]`` -> "a list of integers", unions joined by "or"."""
    options = _union_args(hint)
    if options is not None:
        return " or ".join(_describe(o, plural) for o in options if o is not type(None)) + (
            " (or null)" if type(None) in options else "")
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (list, tuple):
        if origin is tuple and args and args[-1] is not Ellipsis:
            return f"a list of {len(args)} {_describe(args[0], plural=True)}"
        return f"a list of {_describe(args[0], plural=True)}" if args else "a list"
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        return "mappings" if plural else "a mapping"
    if hint in _NAMES:
        return _NAMES[hint][1 if plural else 0]
    return getattr(hint, "__name__", str(hint))


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
