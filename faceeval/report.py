"""Evaluation outputs: metrics JSON, CED curve (CSV for ``dvc plots`` + PNG), overlay grids.

Every file is written atomically (:mod:`faceio.atomic`) and parent directories are created,
so a killed stage never leaves half a file.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from faceeval.nme import NMEReport, nme_per_image
from faceeval.plots import plot_ced, plot_overlay_grid
from faceio.atomic import atomic_path

CED_CSV_HEADER: tuple[str, str, str] = ("nme", "fraction", "model")
"""Long-format CED CSV: ``nme`` in percent, ``fraction`` of images in [0, 1], ``model``."""

TABLE_COLUMNS: tuple[str, ...] = (
    "nme_0_30",
    "nme_30_60",
    "nme_60_90",
    "nme_mean",
    "nme_std",
    "n_images",
    "nme21_mean",
    "nme_inner_mean",
)
"""The 68-point protocol's keys, then the means of the AFLW 21-point and visible-inner ones."""


def write_metrics(report: NMEReport, path: str | Path, extra: Mapping[str, object] | None = None) -> dict:
    """Write ``report.to_dict()`` as JSON (``metrics/<model>.json``); NaN is written as null.

    ``extra`` keys (JSON-serialisable, e.g. the data measured on) are written beside the
    contract's, which they cannot replace.  Returns the dict written.
    """
    metrics = {**(extra or {}), **report.to_dict()}
    text = json.dumps(metrics, indent=2, allow_nan=False) + "\n"
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return metrics


def _finite(nme: np.ndarray) -> np.ndarray:
    arr = np.asarray(nme, dtype=np.float64).ravel()
    return arr[np.isfinite(arr)]


def ced_curve(nme: np.ndarray, max_nme: float = 0.10, n: int = 101) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative error distribution.

    Args:
        nme: (B,) per-image NME as fractions; non-finite values are ignored.
        max_nme: the last threshold, a fraction.
        n: number of thresholds, evenly spaced over [0, max_nme].

    Returns:
        (thresholds (n,) fractions, fraction (n,) of images with NME <= threshold), the
        latter non-decreasing, all zeros if there is no image.
    """
    errors = np.sort(_finite(nme))
    thresholds = np.linspace(0.0, max_nme, n)
    if errors.size == 0:
        return thresholds, np.zeros(n)
    counts = np.searchsorted(errors, thresholds, side="right")
    return thresholds, counts / errors.size


def ced_auc(nme: np.ndarray, limit: float = 0.07) -> float:
    """Normalised area under the CED curve on [0, limit] (fractions), in [0, 1].

    Exact (no threshold grid): the mean over images of ``max(0, 1 - nme / limit)``.
    NaN if there is no finite NME.
    """
    errors = _finite(nme)
    if errors.size == 0:
        return math.nan
    return float(np.clip(1.0 - errors / limit, 0.0, None).mean())


def _write_ced_csv(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> None:
    """The long-format CED CSV (:data:`CED_CSV_HEADER`) of ``model -> (percent, fraction)``."""
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(CED_CSV_HEADER)
            for model, (x, y) in curves.items():
                writer.writerows((f"{xi:.4f}", f"{yi:.6f}", model) for xi, yi in zip(x, y, strict=True))


def _curve(nme: np.ndarray, label: str, max_nme: float, n: int,
           auc_limit: float) -> tuple[tuple[np.ndarray, np.ndarray], str]:
    """((thresholds in percent, fraction), legend label with the AUC) of one error set."""
    thresholds, fraction = ced_curve(nme, max_nme=max_nme, n=n)
    auc = ced_auc(nme, limit=auc_limit)
    return (thresholds * 100.0, fraction), f"{label} (AUC@{auc_limit * 100:g}% = {auc * 100:.1f}%)"


def write_ced(
    nme_by_model: Mapping[str, np.ndarray],
    csv_path: str | Path,
    png_path: str | Path,
    max_nme: float = 0.10,
    n: int = 101,
    auc_limit: float = 0.07,
) -> None:
    """Write the CED of one or more models as a long-format CSV and a PNG.

    The CSV has the header ``nme,fraction,model`` (``nme`` in percent), one block of ``n``
    rows per model; for ``dvc plots`` use ``x: nme, y: fraction`` (one model per file plots
    directly; several models in a file need a template that colours by ``model``). The PNG
    shows every model, with the AUC on [0, ``auc_limit``] in the legend.

    Args:
        nme_by_model: model name -> (B,) per-image NME as fractions.
        csv_path, png_path: output files.
        max_nme, n: threshold range (fraction) and count, as :func:`ced_curve`.
        auc_limit: AUC upper limit, a fraction (0.07 = 7 %).
    """
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    labels: dict[str, str] = {}
    for model, nme in nme_by_model.items():
        curves[model], labels[model] = _curve(nme, model, max_nme, n, auc_limit)
    _write_ced_csv(curves, csv_path)
    with atomic_path(png_path) as tmp:
        plot_ced(curves, labels, tmp)


PROTOCOL_CED_SUFFIXES: Mapping[str, str] = {"aflw68": "_ced", "aflw21": "_ced21", "inner": "_ced_inner"}
"""Protocol -> CSV file suffix: ``<stem>_ced.csv`` (68 points), ``<stem>_ced21.csv``,
``<stem>_ced_inner.csv``."""


def write_protocol_ceds(
    name: str,
    nme_by_protocol: Mapping[str, np.ndarray],
    stem: str | Path,
    labels: Mapping[str, str] | None = None,
    max_nme: float = 0.10,
    n: int = 101,
    auc_limit: float = 0.07,
) -> None:
    """The CED of one model under each protocol: one CSV per protocol (long format, ``model``
    = ``name``, file names from :data:`PROTOCOL_CED_SUFFIXES`, one ``dvc plots`` file each) and
    ``<stem>_ced.png`` with one curve per protocol.

    Args:
        name: the model.
        nme_by_protocol: protocol (a key of :data:`PROTOCOL_CED_SUFFIXES`) -> (B,) per-image
            NME as fractions (non-finite values ignored).
        stem: output path without suffix (``metrics/cascade``).
        labels: protocol -> legend label (default: the protocol key).
    """
    curves: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    legend: dict[str, str] = {}
    for protocol, nme in nme_by_protocol.items():
        label = f"{name}, {(labels or {}).get(protocol, protocol)}"
        curve, legend[label] = _curve(nme, label, max_nme, n, auc_limit)
        curves[label] = curve
        _write_ced_csv({name: curve}, f"{stem}{PROTOCOL_CED_SUFFIXES[protocol]}.csv")
    with atomic_path(f"{stem}_ced.png") as tmp:
        plot_ced(curves, legend, tmp)


def write_overlay_grid(
    images: Sequence[np.ndarray],
    pred: np.ndarray,
    gt: np.ndarray,
    path: str | Path,
    titles: Sequence[str] | None = None,
    cols: int = 4,
) -> None:
    """Write a PNG grid of sample images: true landmarks green, predicted red.

    Args:
        images: B images (H, W, 3) uint8 RGB.
        pred, gt: (B, 68, 2) landmarks in 0-based pixels of the respective image.
        path: the PNG file.
        titles: optional B labels; each tile title ends with the image's NME in percent.
        cols: tiles per row.
    """
    pred_arr = np.asarray(pred, dtype=np.float64)
    gt_arr = np.asarray(gt, dtype=np.float64)
    if not (len(images) == len(pred_arr) == len(gt_arr)):
        raise ValueError(f"{len(images)} images, {len(pred_arr)} pred, {len(gt_arr)} gt")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"{len(titles)} titles for {len(images)} images")
    nme = nme_per_image(pred_arr, gt_arr) if len(images) else np.zeros(0)
    tiles = []
    for i, value in enumerate(nme):
        prefix = f"{titles[i]}  " if titles is not None else ""
        tiles.append(f"{prefix}NME {value * 100:.2f}%")
    with atomic_path(path) as tmp:
        plot_overlay_grid(images, pred_arr, gt_arr, tiles, tmp, cols=cols)


def _cell(value: object) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def format_table(rows: Mapping[str, Mapping[str, object]]) -> str:
    """A plain-text table of several models' metrics (NME columns in percent).

    Args:
        rows: model -> metrics dict (``NMEReport.to_dict()`` or the JSON read back).

    Returns:
        Columns ``model`` plus :data:`TABLE_COLUMNS`; missing / null values print as ``-``.
    """
    header = ("model", *TABLE_COLUMNS)
    body = [(str(m), *(_cell(r.get(c)) for c in TABLE_COLUMNS)) for m, r in rows.items()]
    widths = [max(len(row[i]) for row in (header, *body)) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        return "  ".join([first, *(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))])

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(header), rule, *(line(r) for r in body)])
