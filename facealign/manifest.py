"""The saved-aligner manifest: ``aligner.json``, the file that makes a directory an aligner.

Every saved aligner directory (``models/cascade``, ``models/dff_sdm``, a registry
version's ``artifacts/aligner``, ...) holds one ``aligner.json`` whose ``family`` field
(``mean_shape``, ``cascade``, ``dff_sdm``, ``sift_sdm``) says which loader reads the rest
of the directory.  The family's own fields (weights, sizes, settings) sit beside it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from faceio import atomic

FILE_NAME = "aligner.json"
FAMILIES: tuple[str, ...] = ("mean_shape", "cascade", "dff_sdm", "sift_sdm",
                             "cascade_onnx", "dff_sdm_onnx")  # the last two: ONNX Runtime exports


def manifest_path(directory: str | Path) -> Path:
    """``<directory>/aligner.json``."""
    return Path(directory) / FILE_NAME


def is_aligner_dir(directory: str | Path) -> bool:
    """Whether ``directory`` holds an ``aligner.json``."""
    return manifest_path(directory).is_file()


def read_manifest(directory: str | Path, family: str | tuple[str, ...] | None = None,
                  required: tuple[str, ...] = (), hint: str = "") -> dict[str, Any]:
    """The manifest of a saved aligner directory; every error names the file and the field.

    Args:
        directory: the aligner directory.
        family: the family (or families) the caller reads; ``None``: any known family.
        required: fields that must be present.
        hint: appended to the not-found message (e.g. the command that makes one).
    """
    path = manifest_path(directory)
    if not path.is_file():
        raise FileNotFoundError(f"{directory}: not a saved aligner (no {FILE_NAME}){hint}")
    try:
        manifest = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise ValueError(f"{path}: must hold a JSON object")
    allowed = FAMILIES if family is None else ((family,) if isinstance(family, str) else family)
    if manifest.get("family") not in allowed:
        raise ValueError(f"{path}: field 'family' is {manifest.get('family')!r}, "
                         f"expected one of {sorted(allowed)}")
    for key in required:
        if key not in manifest:
            raise ValueError(f"{path}: missing field {key!r}")
    return manifest


def write_manifest(directory: str | Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` (it must name a known ``family``) as ``<directory>/aligner.json``, atomically."""
    if manifest.get("family") not in FAMILIES:
        raise ValueError(f"manifest field 'family' must be one of {sorted(FAMILIES)}, "
                         f"got {manifest.get('family')!r}")
    return atomic.write_json(manifest_path(directory), manifest)
