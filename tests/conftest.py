"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The real reference data beside the checkout (``../shared`` or ``$FACEALIGN_SHARED``).

    Tests that read real data skip when it is absent, as in a user's fresh clone.
    """
    path = Path(os.environ.get("FACEALIGN_SHARED", REPO_ROOT.parent / "shared"))
    if not (path / "data").is_dir():
        pytest.skip(f"real reference data not found at {path} (set FACEALIGN_SHARED)")
    return path / "data"
