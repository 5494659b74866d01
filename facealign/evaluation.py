"""Evaluate any aligner on a folder in the AFLW2000-3D layout, by the field's protocol.

Face boxes come from the ground-truth 68 landmarks (the benchmark protocol), NME is
normalised by sqrt(w*h) of that box, and results are reported per |yaw| bin.  Writes the
metrics contract ``<output>.json``, the CED curve ``<stem>_ced.csv`` / ``.png`` and a
grid of overlays ``<stem>_overlays.png`` beside it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facealign.aligners.base import Aligner, Alignment
from facealign.data import readers
from faceeval import nme as nme_lib
from faceeval import report


@dataclass
class Benchmark:
    """A test folder: records, ground truth (B, 68, 2) pixels, boxes (B, 4), yaw (B,) degrees."""

    records: list[readers.FaceRecord]
    landmarks: np.ndarray
    boxes: np.ndarray
    yaw_deg: np.ndarray


def load_benchmark(folder: str | Path) -> Benchmark:
    """Read every jpg + mat pair of ``folder``; boxes are the ground-truth landmark boxes."""
    records = readers.read_folder(folder)
    landmarks = np.stack([r.landmarks68 for r in records]).astype(np.float64)
    boxes = np.concatenate([landmarks.min(1), landmarks.max(1)], axis=1)
    yaw = np.array([readers.yaw_degrees(r) for r in records])
    return Benchmark(records, landmarks, boxes, yaw)


def run_aligner(
    aligner: Aligner, bench: Benchmark, batch_size: int = 32, progress: bool = True
) -> list[Alignment]:
    """Align every benchmark image in batches, with a progress bar."""
    out: list[Alignment] = []
    starts = range(0, len(bench.records), batch_size)
    for start in tqdm(starts, desc=f"align {aligner.name}", unit="batch", disable=not progress):
        chunk = bench.records[start : start + batch_size]
        images = [readers.load_image(r.image_path) for r in chunk]
        out.extend(aligner.align(images, bench.boxes[start : start + len(chunk)]))
    return out


def evaluate(
    aligner: Aligner,
    folder: str | Path,
    output: str | Path,
    batch_size: int = 32,
    n_overlays: int = 16,
    progress: bool = True,
) -> dict:
    """Evaluate ``aligner`` on ``folder`` and write the metrics contract to ``output``.

    Returns:
        The metrics dict written to ``output`` (NMEs in percent).
    """
    output = Path(output)
    bench = load_benchmark(folder)
    results = run_aligner(aligner, bench, batch_size, progress)
    pred = np.stack([a.landmarks for a in results]).astype(np.float64)
    per_image = nme_lib.nme_per_image(pred, bench.landmarks)
    summary = nme_lib.summarize(per_image, bench.yaw_deg)
    report.write_metrics(summary, output)
    stem = output.with_suffix("")
    report.write_ced({aligner.name: per_image}, f"{stem}_ced.csv", f"{stem}_ced.png")
    write_overlays(bench, pred, per_image, f"{stem}_overlays.png", n_overlays)
    return summary.to_dict()


def write_overlays(
    bench: Benchmark, pred: np.ndarray, per_image: np.ndarray, path: str | Path, n: int
) -> None:
    """Overlay grid of ``n`` images spread over the yaw range (sorted by |yaw|)."""
    if n <= 0:
        return
    order = np.argsort(np.abs(bench.yaw_deg))
    pick = order[np.linspace(0, len(order) - 1, min(n, len(order))).astype(int)]
    images = [readers.load_image(bench.records[i].image_path) for i in pick]
    titles = [f"yaw {bench.yaw_deg[i]:+.0f}°" for i in pick]
    report.write_overlay_grid(images, pred[pick], bench.landmarks[pick], path, titles=titles)
