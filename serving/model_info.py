"""What ``GET /v1/model`` and the page say about the model served, real-face NME first.

A registry version carries the synthetic test-set NME (tag ``nme_mean``, measured on the
data of ``test_data_hash``) and, when it was measured on real faces, ``real_nme_mean``
(on the folders of ``real_data_hash``; see :mod:`facealign.registry.register`).  The
headline is the real-face figure when there is one, labelled with the data it comes from.
"""

from __future__ import annotations

import math
from typing import Any

from facealign.registry.info import ModelRef


def _percent(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def headline_nme(tags: dict[str, str]) -> dict[str, Any]:
    """``{"value", "data", "data_hash", "label"}`` from a version's tags (percent)."""
    real = _percent(tags.get("real_nme_mean"))
    if real is not None:
        digest = tags.get("real_data_hash")
        where = f" (real data {digest[:8]})" if digest else ""
        return {"value": real, "data": "real faces", "data_hash": digest,
                "label": f"real-face NME {real:.2f} %{where}"}
    synthetic = _percent(tags.get("nme_mean"))
    digest = tags.get("test_data_hash")
    if synthetic is None:
        return {"value": None, "data": "none", "data_hash": None, "label": "NME not measured"}
    where = f" (test data {digest[:8]})" if digest else ""
    return {"value": synthetic, "data": "synthetic test set", "data_hash": digest,
            "label": f"synthetic test-set NME {synthetic:.2f} %{where}"}


def describe_model(ref: ModelRef) -> dict[str, Any]:
    """The registry description of ``ref`` plus ``real_nme_mean``, ``real_data_hash`` and
    ``headline_nme``."""
    return {**ref.describe(), "real_nme_mean": _percent(ref.tags.get("real_nme_mean")),
            "real_data_hash": ref.tags.get("real_data_hash"), "headline_nme": headline_nme(ref.tags)}
