"""Matplotlib drawing for the evaluation report (Agg canvas, no pyplot, no global state).

matplotlib is imported inside the functions so that importing :mod:`faceeval` stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np


def _new_figure(width_in: float, height_in: float):
    """A Figure bound to its own Agg canvas (never a display backend)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_in, height_in), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def plot_ced(
    curves: Mapping[str, tuple[np.ndarray, np.ndarray]],
    labels: Mapping[str, str],
    path: str | Path,
) -> None:
    """Write a PNG of CED curves, one line per model.

    Args:
        curves: model -> (thresholds in **percent** NME, fraction of images in [0, 1]).
        labels: model -> legend label (e.g. with the AUC).
        path: the PNG file.
    """
    fig = _new_figure(6.0, 4.5)
    ax = fig.add_subplot(1, 1, 1)
    for model, (x, y) in curves.items():
        ax.plot(x, y, label=labels.get(model, model), linewidth=1.8)
    ax.set_xlabel("NME (%)")
    ax.set_ylabel("fraction of images")
    ax.set_ylim(0.0, 1.0)
    if curves:
        ax.set_xlim(0.0, max(float(x[-1]) for x, _ in curves.values()))
        ax.legend(loc="lower right")
    ax.grid(True, alpha=0.3)
    ax.set_title("Cumulative error distribution")
    fig.tight_layout()
    fig.savefig(path, format="png")


def plot_overlay_grid(
    images: Sequence[np.ndarray],
    pred: np.ndarray,
    gt: np.ndarray,
    titles: Sequence[str],
    path: str | Path,
    cols: int = 4,
) -> None:
    """Write a PNG grid of images with ground-truth (green) and predicted (red) landmarks.

    Args:
        images: B images (H, W, 3) uint8 RGB (sizes may differ).
        pred, gt: (B, N, 2) landmarks in 0-based pixels (x right, y down).
        titles: B tile titles.
        path: the PNG file.
        cols: tiles per row.
    """
    n = len(images)
    cols = max(1, min(cols, n))
    rows = max(1, math.ceil(n / cols))
    fig = _new_figure(3.0 * cols, 3.2 * rows)
    for i in range(rows * cols):
        ax = fig.add_subplot(rows, cols, i + 1)
        ax.set_axis_off()
        if i >= n:
            continue
        img = np.asarray(images[i])
        ax.imshow(img, interpolation="bilinear")
        size = max(img.shape[:2])
        marker = max(2.0, 6.0 * size / 450.0)
        ax.scatter(gt[i][:, 0], gt[i][:, 1], s=marker, c="#00d000", label="true")
        ax.scatter(pred[i][:, 0], pred[i][:, 1], s=marker, c="#ff2020", label="predicted")
        ax.set_xlim(-0.5, img.shape[1] - 0.5)
        ax.set_ylim(img.shape[0] - 0.5, -0.5)
        ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
