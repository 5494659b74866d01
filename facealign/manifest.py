"""The saved-aligner manifest: ``aligner.json``, the file that makes a directory an aligner.

Every saved aligner directory (``models/cascade``, ``models/dff_sdm``, a registry
version's ``artifacts/aligner``, ...) holds one ``aligner.json`` whose ``family`` field
(``mean_shape``, ``cascade``, ``dff_sdm``, ``sift_sdm``) says which loader reads the rest
of the directory.  The family's own fields (weights, sizes, settings) sit beside it.
:func:`aligner_hash` is the directory's content hash (what a metrics file and a registry
version record of the aligner they describe); :func:`read_file` is how loaders read the
directory's data files, so a damaged or tampered one is a one-line error naming it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

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


def aligner_hash(directory: str | Path) -> str:
    """md5 of the directory's relative file names and contents (stable across clones;
    ``__pycache__`` left out)."""
    directory = Path(directory)
    digest = hashlib.md5()
    for file in sorted(p for p in directory.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        digest.update(str(file.relative_to(directory)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


class AlignerFileError(ValueError):
    """A data file of a saved aligner that cannot be read; the message names the file."""


T = TypeVar("T")


def read_file(path: str | Path, reader: Callable[[Path], T], what: str = "file") -> T:
    """``reader(path)`` (a file or a directory), with any failure (missing, truncated, not the
    expected format, a pickle that ``weights_only`` / ``allow_pickle=False`` refuses) turned into one line:
    ``<path>: cannot read <what> (<error's first line>)``.

    Raises:
        AlignerFileError: (a ValueError) naming ``path``.
    """
    import pickle

    path = Path(path)
    if not path.exists():
        raise AlignerFileError(f"{path}: {what} not found")
    try:
        return reader(path)
    except Exception as exc:  # noqa: BLE001 - every reader failure becomes the same one-line error
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[0][:200] if lines else ""
        if str(path) in detail:  # the reader named the file already
            raise AlignerFileError(detail) from exc
        if isinstance(exc, pickle.UnpicklingError):
            detail = "it holds Python objects beyond plain tensors and arrays; refused unloaded"
        raise AlignerFileError(f"{path}: cannot read {what} ({type(exc).__name__}"
                               f"{': ' + detail if detail else ''})") from exc
