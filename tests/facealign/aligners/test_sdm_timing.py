"""Inference timings for bench/infer.py's dff_sdm section."""

from __future__ import annotations

import numpy as np

from facealign.aligners.sdm import load_sdm_aligner, save_sdm_aligner
from facealign.aligners.sdm_timing import time_aligner
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.regression import Cascade, DescentMap
from facealign.sdm.settings import SDMSettings


def test_timings_cover_the_parts_of_a_call(head_model, tmp_path):
    settings = SDMSettings(n_landmarks=70, iterations=2, n_id=2, n_exp=1, sift_image_size=48)
    ids = landmark_vertices(head_model, 70)
    zero = DescentMap(np.zeros((70 * 128, 2 * 70 + 6), np.float32), np.zeros(2 * 70 + 6))
    save_sdm_aligner(tmp_path / "sdm", head_model, ids, Cascade((zero, zero)), "sift", settings)
    aligner = load_sdm_aligner(tmp_path / "sdm")
    images = [np.zeros((60, 60, 3), np.uint8)] * 3
    result = time_aligner(aligner, images, np.array([[10.0, 10.0, 50.0, 50.0]] * 3), warmup=1)
    assert {"p50_ms", "p99_ms", "extract_ms", "iteration_ms"} <= set(result)
    assert 0 < result["iteration_ms"] <= result["p50_ms"] <= result["p99_ms"]
    assert result["iterations"] == 2 and result["n_faces"] == 3
    # a whole call covers the extraction and both iterations it times
    assert result["extract_ms"] + 2 * result["iteration_ms"] <= result["p99_ms"]
