"""Held-out validation of a fitted cascade, in the crop frame, with the benchmark's metrics.

The validation faces are training-folder images left out of the fit; their descriptors
were prepared with the training set's, so validating costs a cascade run and no extra
network pass.  NME is scale-free, so the crop frame gives the image-frame figures (same
normaliser: the ground-truth 68-point box).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facealign.sdm.descriptors import Descriptor
from facealign.sdm.regression import Cascade
from facealign.sdm.state import SDMGeometry, run_cascade
from facealign.sdm.training_data import TrainingSet
from faceeval import report
from faceeval.nme import nme_per_image, summarize


def validate(geometry: SDMGeometry, descriptor: Descriptor, cascade: Cascade, data: TrainingSet,
             yaw_deg: np.ndarray, out_dir: str | Path, name: str, n_overlays: int = 16) -> dict:
    """Run the cascade on ``data``; write ``<name>.json``, CED CSV/PNG and overlays to ``out_dir``.

    Args:
        yaw_deg: (n,) ground-truth yaw of each face, degrees (for the |yaw| bins).
        n_overlays: overlay tiles, spread over the |yaw| range (needs ``data.crops``).
    Returns:
        the metrics dict (NME in percent, see :class:`faceeval.nme.NMEReport`).
    """
    out_dir = Path(out_dir)
    start = geometry.initial_state(data.boxes)
    end = run_cascade(geometry, descriptor, cascade.maps, data.prepared, start)
    pred = geometry.points(end)[:, :68, :2]
    gt = data.points[:, :68]
    per_image = nme_per_image(pred, gt)
    summary = summarize(per_image, yaw_deg)
    report.write_metrics(summary, out_dir / f"{name}.json")
    report.write_ced({name: per_image}, out_dir / f"{name}_ced.csv", out_dir / f"{name}_ced.png")
    if n_overlays > 0 and data.crops is not None and len(data):
        order = np.argsort(np.abs(yaw_deg))
        pick = order[np.linspace(0, len(order) - 1, min(n_overlays, len(order))).astype(int)]
        report.write_overlay_grid([data.crops[i] for i in pick], pred[pick], gt[pick],
                                  out_dir / f"{name}_overlays.png",
                                  titles=[f"yaw {yaw_deg[i]:+.0f}°" for i in pick])
    return summary.to_dict()
