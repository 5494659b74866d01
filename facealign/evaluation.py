"""Evaluate any aligner on folders in the AFLW2000-3D layout, by the field's protocol.

Face boxes come from the ground-truth 68 landmarks (the benchmark protocol), NME is
normalised by sqrt(w*h) of that box, and results are reported per |yaw| bin (NMEs in
percent).  Several folders are evaluated as one benchmark (their union, in the order given).
Every evaluation reports the papers' three protocols (:mod:`faceeval.protocols`): the 68
points, the AFLW 21 points (visible only, from the annotation's ``pt2d``) and the visible
inner points (visibility from :mod:`facealign.data.landmark_visibility`).
Writes the metrics contract ``<output>.json``, the CED curves ``<stem>_ced.csv`` (68 points),
``<stem>_ced21.csv``, ``<stem>_ced_inner.csv`` and ``<stem>_ced.png`` (all three), and a
grid of overlays ``<stem>_overlays.png`` beside it; :func:`write_skipped` writes the
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
from facealign.data.landmark_visibility import landmark_visibility
from faceeval import nme as nme_lib
from faceeval import protocols, report
from facegeom.morphable_model import MorphableModel
from faceio import atomic

Folders = str | Path | Sequence[str | Path]
"""One AFLW2000-3D-layout folder or several (evaluated as their union)."""

HASH_KEY = "aligner_hash"
"""The metrics key of the measured aligner directory's content hash (promotion checks it)."""


NO_VISIBILITY = "none: no face model, every 68 point counted; AFLW points from the annotation"


@dataclass
class Benchmark:
    """A test folder: records, ground truth (B, 68, 2) pixels, boxes (B, 4), yaw (B,) degrees,
    the AFLW 21-point ground truth ``aflw21`` (B, 21, 2) pixels (NaN = missing / hidden), the
    68 points' visibility ``visible`` (B, 68) bool and where it came from (``visibility``)."""

    records: list[readers.FaceRecord]
    landmarks: np.ndarray
    boxes: np.ndarray
    yaw_deg: np.ndarray
    aflw21: np.ndarray | None = None
    visible: np.ndarray | None = None
    visibility: str = NO_VISIBILITY


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


def aflw21_truth(record: readers.FaceRecord, visible: np.ndarray) -> np.ndarray:
    """(21, 2) AFLW ground truth of a record: its ``pt2d`` when that holds the 21 AFLW points
    (AFLW2000-3D; NaN = missing), else (300W-LP layout) its 68 points mapped to 21, a point
    missing where any 68 point it comes from is not ``visible`` (68,)."""
    if record.pt2d.shape == (len(nme_lib.AFLW21_FROM_68), 2):
        return record.pt2d
    pts = nme_lib.map_68_to_21(record.landmarks68)
    hidden = nme_lib.map_68_to_21(np.where(visible, 0.0, np.nan)[:, None].repeat(2, 1))
    pts[~np.isfinite(hidden[:, 0])] = np.nan
    return pts


def load_benchmark(folder: Folders, face_model: MorphableModel | None = None) -> Benchmark:
    """Read every jpg + mat pair of ``folder`` (one folder or several, concatenated in order);
    boxes are the ground-truth landmark boxes.  With ``face_model`` the 68 points' visibility
    is the z-buffer rule of :func:`~facealign.data.landmark_visibility.landmark_visibility`,
    without it every point counts as visible (except the AFLW points the annotation lacks)."""
    records = [r for f in as_folders(folder) for r in readers.read_folder(f)]
    landmarks = np.stack([r.landmarks68 for r in records]).astype(np.float64)
    boxes = np.concatenate([landmarks.min(1), landmarks.max(1)], axis=1)
    yaw = np.array([readers.yaw_degrees(r) for r in records])
    visible, sources = np.ones((len(records), 68), bool), {NO_VISIBILITY}
    if face_model is not None:
        found = [landmark_visibility(r, face_model) for r in records]
        visible, sources = np.stack([v for v, _ in found]), {s for _, s in found}
    aflw21 = np.stack([aflw21_truth(r, v) for r, v in zip(records, visible, strict=True)])
    return Benchmark(records, landmarks, boxes, yaw, aflw21, visible, " + ".join(sorted(sources)))


def load_face_model(path: str | Path | None) -> MorphableModel | None:
    """The face model at ``path`` (the pipeline's ``paths.face_model``: the one the synthetic
    data was made with), or None when there is no such file."""
    return MorphableModel.load(path) if path is not None and Path(path).is_file() else None


def aligner_face_model(aligner: object) -> MorphableModel | None:
    """The morphable model an aligner carries (SDM: ``model``, cascade: ``bundle.model``),
    else None (the mean-shape baseline keeps only its template).  A wrapper (test-time flip
    averaging, ``inner``) answers for the aligner it wraps."""
    while getattr(aligner, "inner", None) is not None:
        aligner = aligner.inner
    for holder in (aligner, getattr(aligner, "aligner", None), getattr(aligner, "bundle", None)):
        model = getattr(holder, "model", None)
        if isinstance(model, MorphableModel):
            return model
    return None


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
    face_model: MorphableModel | None = None,
) -> dict:
    """Evaluate ``aligner`` on ``folder`` (one or several) and write the metrics contract to
    ``output``, with the ``extra`` keys (e.g. the data it was measured on) added, and
    ``aligner_hash``: the content hash of the directory the aligner was loaded from
    (:func:`facealign.manifest.aligner_hash`; null for an aligner built in memory).

    ``face_model`` (default: the aligner's own, :func:`aligner_face_model`) gives the ground
    truth's landmark visibility for the visible-inner protocol (see :func:`load_benchmark`).

    Returns:
        The metrics dict written to ``output`` (NMEs in percent).
    """
    bench = load_benchmark(folder, face_model if face_model is not None else aligner_face_model(aligner))
    results = run_aligner(aligner, bench, batch_size, progress)
    pred = np.stack([a.landmarks for a in results]).astype(np.float64)
    extra = {**(extra or {}), HASH_KEY: getattr(aligner, "content_hash", None)}
    return write_evaluation(aligner.name, pred, bench.landmarks, bench.yaw_deg, output,
                            lambda i: readers.load_image(bench.records[i].image_path), n_overlays, extra,
                            gt21=bench.aflw21, visible=bench.visible, visibility=bench.visibility)


def write_evaluation(name: str, pred: np.ndarray, gt: np.ndarray, yaw_deg: np.ndarray, output: str | Path,
                     image: Callable[[int], np.ndarray] | None = None, n_overlays: int = 16,
                     extra: Mapping[str, object] | None = None, gt21: np.ndarray | None = None,
                     visible: np.ndarray | None = None, visibility: str | None = None) -> dict:
    """Score predictions and write the evaluation files: the one writer of every evaluation.

    Writes the metrics contract ``output`` (``<name>.json``) with the keys of the papers'
    other two protocols (:data:`faceeval.protocols.PROTOCOL_KEYS`) and ``visibility`` (where
    the ground truth's visibility came from), the CED curves ``<stem>_ced.csv``,
    ``<stem>_ced21.csv``, ``<stem>_ced_inner.csv`` and ``<stem>_ced.png`` (the three
    protocols) and, when ``image`` is given, an overlay grid ``<stem>_overlays.png`` of
    ``n_overlays`` faces spread over the |yaw| range.

    Args:
        name: the model's name in the CED file.
        pred, gt: (B, 68, 2) predicted and ground-truth landmarks, pixels.
        yaw_deg: (B,) ground-truth yaw, degrees (for the |yaw| bins).
        image: ``i -> (H, W, 3)`` uint8 image of face ``i``, in the landmarks' frame.
        extra: JSON-serialisable keys written beside the contract's (which they cannot replace).
        gt21: (B, 21, 2) AFLW ground truth, NaN = missing (default: ``gt`` mapped to 21 points).
        visible: (B, 68) bool ground-truth visibility (default: every point visible).
        visibility: where ``visible`` came from, for the metrics file.
    Returns:
        The metrics dict written to ``output`` (NMEs in percent).
    """
    output = Path(output)
    seen = np.ones(gt.shape[:2], bool) if visible is None else np.asarray(visible, bool)
    truth21 = np.stack([nme_lib.map_68_to_21(g) for g in gt]) if gt21 is None else gt21
    truth21 = truth21.reshape(len(gt), len(nme_lib.AFLW21_FROM_68), 2)
    per_image = protocols.per_image_nme(pred, gt, truth21, seen)
    summary = nme_lib.summarize(per_image["aflw68"], yaw_deg)
    keys = {**protocols.protocol_metrics(per_image, yaw_deg),
            "visibility": visibility or NO_VISIBILITY}
    metrics = report.write_metrics(summary, output, {**(extra or {}), **keys})
    stem = output.with_suffix("")
    report.write_protocol_ceds(name, per_image, stem, protocols.PROTOCOL_LABELS)
    if image is not None and n_overlays > 0 and len(pred):
        order = np.argsort(np.abs(yaw_deg))
        pick = order[np.linspace(0, len(order) - 1, min(n_overlays, len(order))).astype(int)]
        report.write_overlay_grid([image(int(i)) for i in pick], pred[pick], gt[pick],
                                  f"{stem}_overlays.png", titles=[f"yaw {yaw_deg[i]:+.0f}°" for i in pick])
    return metrics


def write_skipped(name: str, output: str | Path, reason: str) -> dict:
    """Record an evaluation that could not run: ``output`` is ``{"skipped": reason,
    "n_images": 0}``; empty CED curves (every protocol) and overlay grid stand in for the
    others (so a pipeline stage that declares them still has its outputs).  Returns the dict."""
    output = Path(output)
    record = {"skipped": reason, "n_images": 0}
    atomic.write_json(output, record)
    stem = output.with_suffix("")
    report.write_protocol_ceds(name, dict.fromkeys(protocols.PROTOCOL_NAMES, np.zeros(0)), stem,
                               protocols.PROTOCOL_LABELS)
    empty = np.zeros((0, 68, 2))
    report.write_overlay_grid([], empty, empty, f"{stem}_overlays.png")
    return record
