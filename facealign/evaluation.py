"""Evaluate any aligner on folders in the AFLW2000-3D layout, by the field's protocol.

Face boxes come from the ground-truth 68 landmarks (the benchmark protocol), NME is
normalised by sqrt(w*h) of that box, and results are reported per |yaw| bin (NMEs in
percent).  Several folders are evaluated as one benchmark (their union, in the order given).
Writes the metrics contract ``<output>.json``, the CED curve ``<stem>_ced.csv`` / ``.png``
and a grid of overlays ``<stem>_overlays.png`` beside it; :func:`write_skipped` writes the
placeholder set of files of an evaluation that could not run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facealign.aligners.base import Aligner, Alignment
from facealign.data import readers
from faceeval import nme as nme_lib
from faceeval import report
from faceio import atomic

Folders = str | Path | Sequence[str | Path]
"""One AFLW2000-3D-layout folder or several (evaluated as their union)."""

HASH_KEY = "aligner_hash"
"""The metrics key of the measured aligner directory's content hash (promotion checks it)."""


@dataclass
class Benchmark:
    """A test folder: records, ground truth (B, 68, 2) pixels, boxes (B, 4), yaw (B,) degrees."""

    records: list[readers.FaceRecord]
    landmarks: np.ndarray
    boxes: np.ndarray
    yaw_deg: np.ndarray


def as_folders(folder: Folders) -> list[Path]:
    """``folder`` as a list of paths (a single path becomes a one-element list)."""
    return [Path(folder)] if isinstance(folder, (str, Path)) else [Path(f) for f in folder]


def annotated_folders(folder: Folders) -> list[Path]:
    """The folders of ``folder`` that exist and hold at least one ``.mat`` annotation."""
    return [f for f in as_folders(folder) if f.is_dir() and any(f.glob("*.mat"))]


def folders_hash(folder: Folders) -> str:
    """A content hash of the folders (:func:`facealign.tracking.data_hash` of each).

    One folder: its own hash; several: md5 of their sorted hashes (order-independent, as
    the benchmark is their union), with the ``.dir`` suffix DVC gives directories.
    """
    from facealign.tracking import data_hash

    hashes = [data_hash(f) for f in as_folders(folder)]
    if len(hashes) == 1:
        return hashes[0]
    return hashlib.md5("\n".join(sorted(hashes)).encode()).hexdigest() + ".dir"


def load_benchmark(folder: Folders) -> Benchmark:
    """Read every jpg + mat pair of ``folder`` (one folder or several, concatenated in order);
    boxes are the ground-truth landmark boxes."""
    records = [r for f in as_folders(folder) for r in readers.read_folder(f)]
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
    folder: Folders,
    output: str | Path,
    batch_size: int = 32,
    n_overlays: int = 16,
    progress: bool = True,
    extra: Mapping[str, object] | None = None,
) -> dict:
    """Evaluate ``aligner`` on ``folder`` (one or several) and write the metrics contract to
    ``output``, with the ``extra`` keys (e.g. the data it was measured on) added, and
    ``aligner_hash``: the content hash of the directory the aligner was loaded from
    (:func:`facealign.manifest.aligner_hash`; null for an aligner built in memory).

    Returns:
        The metrics dict written to ``output`` (NMEs in percent).
    """
    bench = load_benchmark(folder)
    results = run_aligner(aligner, bench, batch_size, progress)
    pred = np.stack([a.landmarks for a in results]).astype(np.float64)
    extra = {**(extra or {}), HASH_KEY: getattr(aligner, "content_hash", None)}
    return write_evaluation(aligner.name, pred, bench.landmarks, bench.yaw_deg, output,
                            lambda i: readers.load_image(bench.records[i].image_path), n_overlays, extra)


def write_evaluation(name: str, pred: np.ndarray, gt: np.ndarray, yaw_deg: np.ndarray, output: str | Path,
                     image: Callable[[int], np.ndarray] | None = None, n_overlays: int = 16,
                     extra: Mapping[str, object] | None = None) -> dict:
    """Score predictions and write the evaluation files: the one writer of every evaluation.

    Writes the metrics contract ``output`` (``<name>.json``), the CED curve
    ``<stem>_ced.csv`` / ``.png`` and, when ``image`` is given, an overlay grid
    ``<stem>_overlays.png`` of ``n_overlays`` faces spread over the |yaw| range.

    Args:
        name: the model's name in the CED file.
        pred, gt: (B, 68, 2) predicted and ground-truth landmarks, pixels.
        yaw_deg: (B,) ground-truth yaw, degrees (for the |yaw| bins).
        image: ``i -> (H, W, 3)`` uint8 image of face ``i``, in the landmarks' frame.
        extra: JSON-serialisable keys written beside the contract's (which they cannot replace).
    Returns:
        The metrics dict written to ``output`` (NMEs in percent).
    """
    output = Path(output)
    per_image = nme_lib.nme_per_image(pred, gt)
    summary = nme_lib.summarize(per_image, yaw_deg)
    metrics = report.write_metrics(summary, output, extra)
    stem = output.with_suffix("")
    report.write_ced({name: per_image}, f"{stem}_ced.csv", f"{stem}_ced.png")
    if image is not None and n_overlays > 0 and len(pred):
        order = np.argsort(np.abs(yaw_deg))
        pick = order[np.linspace(0, len(order) - 1, min(n_overlays, len(order))).astype(int)]
        report.write_overlay_grid([image(int(i)) for i in pick], pred[pick], gt[pick],
                                  f"{stem}_overlays.png", titles=[f"yaw {yaw_deg[i]:+.0f}°" for i in pick])
    return metrics


def write_skipped(name: str, output: str | Path, reason: str) -> dict:
    """Record an evaluation that could not run: ``output`` is ``{"skipped": reason,
    "n_images": 0}``; an empty CED curve and overlay grid stand in for the others (so a
    pipeline stage that declares them still has its outputs).  Returns the dict written."""
    output = Path(output)
    record = {"skipped": reason, "n_images": 0}
    atomic.write_json(output, record)
    stem = output.with_suffix("")
    report.write_ced({name: np.zeros(0)}, f"{stem}_ced.csv", f"{stem}_ced.png")
    empty = np.zeros((0, 68, 2))
    report.write_overlay_grid([], empty, empty, f"{stem}_overlays.png")
    return record
