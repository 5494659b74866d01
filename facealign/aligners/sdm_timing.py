"""Inference timings of an SDM aligner, for the ``dff_sdm`` section of ``bench/infer.py``.

One face per call (batch size 1, the latency a user sees), on the test images with their
benchmark boxes, after a few warm-up calls (numba compilation, the first network pass).
Reported in milliseconds:

* ``p50_ms`` / ``p99_ms`` - whole :meth:`align` call per face (crop, descriptors, the
  cascade, outputs in image pixels);
* ``extract_ms`` - median descriptor extraction per image (the DFF network pass, or the
  grey conversion for SIFT, whose descriptors are computed inside the iterations);
* ``iteration_ms`` - median time of one SDM iteration (visibility z-buffer, descriptor
  sampling, regression, shape fit).

The DFF paper reports about 5 ms extraction and 8.8 ms per iteration on a GTX 1070; they
are written beside ours (``paper_*``) for comparison, not as a target.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from facealign.aligners.sdm import SDMAligner

PAPER = {"paper_extract_ms": 5.0, "paper_iteration_ms": 8.8, "paper_device": "NVIDIA GTX 1070"}


def time_aligner(aligner: SDMAligner, images: list[np.ndarray], boxes: np.ndarray, warmup: int = 3) -> dict:
    """Latency statistics of ``aligner.align_timed`` over single faces (see the module docstring)."""
    import time

    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    for i in range(min(warmup, len(images))):
        aligner.align_timed([images[i]], boxes[i : i + 1])
    total, extract, iterations = [], [], []
    for image, box in zip(images, boxes, strict=True):
        start = time.perf_counter()
        _, parts = aligner.align_timed([image], box[None])
        total.append(time.perf_counter() - start)
        extract.append(parts["extract_s"])
        iterations.extend(parts["iterations_s"])
    ms = 1000.0
    return {
        "p50_ms": round(float(np.percentile(total, 50)) * ms, 3),
        "p99_ms": round(float(np.percentile(total, 99)) * ms, 3),
        "extract_ms": round(float(np.median(extract)) * ms, 3),
        "iteration_ms": round(float(np.median(iterations)) * ms, 3),
        "iterations": len(aligner.cascade),
        "n_faces": len(images),
        "image_size": int(aligner.descriptor.image_size),
        "device": f"cpu ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)",
        "load_avg_1min": round(os.getloadavg()[0], 2),  # other work on the machine while timing
        **PAPER,
    }
