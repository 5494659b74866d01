"""Atomic writes: the one place that writes a temporary sibling and renames it into place.

Every output a stage, a command or a server writes goes through here, so a process that
is killed mid-write leaves either the old output or the new one, never half of either.
The temporary sibling lives in the target's directory (the rename stays on one file
system) and starts with a dot, so globbing the directory does not pick it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary file path beside ``path``; move it onto ``path`` if the block succeeds.

    The temporary name keeps ``path``'s suffix (``np.savez`` would append ``.npz`` to a
    name without it).  Parent directories are created; the file is made world-readable
    (outputs are shared artefacts).  On an exception the temporary file is removed and
    ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f".tmp{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    tmp.chmod(0o644)
    try:
        yield tmp
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; returns ``path``."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_json(path: str | Path, obj: Any, indent: int = 2, **dumps_kwargs: Any) -> Path:
    """Write ``obj`` as JSON (``indent`` 2, a final newline) to ``path`` atomically."""
    return write_text(path, json.dumps(obj, indent=indent, **dumps_kwargs) + "\n")


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Yield an empty ``<path>.partial`` sibling directory; it replaces ``path`` if the block succeeds.

    A ``.partial`` left by a killed earlier run is cleared first.  On an exception the
    partial directory is removed and ``path`` is left as it was.
    """
    final = Path(path)
    tmp = final.with_name(final.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    tmp.rename(final)
