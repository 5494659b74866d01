"""Held-out validation of a fitted cascade, in the crop frame, with the benchmark's metrics.

The validation faces are training-folder images left out of the fit; their descriptors
were prepared with the training set's, so validating costs a cascade run and no extra
network pass.  NME is scale-free, so the crop frame gives the image-frame figures (same
normaliser: the ground-truth 68-point box).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facealign.evaluation import write_evaluation
from facealign.sdm.descriptors import Descriptor
from facealign.sdm.regression import Cascade
from facealign.sdm.state import SDMGeometry, run_cascade
from training.sdm_data import TrainingSet


def validate(geometry: SDMGeometry, descriptor: Descriptor, cascade: Cascade, data: TrainingSet,
             yaw_deg: np.ndarray, out_dir: str | Path, name: str, n_overlays: int = 16) -> dict:
    """Run the cascade on ``data``; write ``<name>.json``, CED CSV/PNG and overlays to ``out_dir``.

    Args:
        yaw_deg: (n,) ground-truth yaw of each face, degrees (for the |yaw| bins).
        n_overlays: overlay tiles, spread over the |yaw| range (needs ``data.crops``).
    Returns:
        the metrics dict (NME in percent, see :class:`faceeval.nme.NMEReport`).
    """
    start = geometry.initial_state(data.boxes)
    end = run_cascade(geometry, descriptor, cascade.maps, data.prepared, start)
    pred = geometry.points(end)[:, :68, :2]
    crops = data.crops
    return write_evaluation(name, pred, data.points[:, :68], yaw_deg, Path(out_dir) / f"{name}.json",
                            None if crops is None else (lambda i: crops[i]), n_overlays)
