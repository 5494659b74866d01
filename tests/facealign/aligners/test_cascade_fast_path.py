"""The fast cascade path (folded batch norms, one input buffer, PNCC rendered in place,
depth-only visibility) gives the landmarks of the plain, step-by-step cascade."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tiny_networks import CASCADE_SIZE, cascade_bundle

from facealign.aligners.cascade import CascadeAligner
from facealign.data import readers
from facealign.models.cascade_bundle import CascadeBundle
from facealign.models.net_input import crop_image, network_input
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import from_crop, project_params
from facegeom.pncc import render_pncc
from facegeom.rasterize import rasterize, vertex_visibility

SIZE = CASCADE_SIZE


def plain_cascade(bundle: CascadeBundle, images: list[np.ndarray], boxes: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The cascade written out step by step from the public pieces: (B, 68, 2) landmarks and
    (B, 68) visibility; unfused networks, vertices by ``project_params`` (the model's own
    shape, then ``camera.project``), full rasters, one allocation per step."""
    model = bundle.model
    crop_boxes = CascadeAligner(bundle, "cpu").crop_boxes(boxes)
    nets = bundle.build_nets("cpu")
    crops = [crop_image(img, box, SIZE) for img, box in zip(images, crop_boxes, strict=True)]
    p = np.repeat(bundle.param_stats.mean[None].astype(np.float64), len(crops), 0)
    for net, stats in zip(nets, bundle.delta_stats, strict=True):
        pnccs = [render_pncc(project_params(q, model), model.triangles, model.ncc(), SIZE, SIZE) for q in p]
        x = np.stack([network_input(c, q) for c, q in zip(crops, pnccs, strict=True)])
        with torch.no_grad():
            p = p + stats.denormalize(net(torch.from_numpy(x)).numpy())
    params = from_crop(p, crop_boxes, SIZE)
    lm = model.landmarks
    marks, visible = [], []
    for image, verts in zip(images, [project_params(q, model) for q in params], strict=True):
        side = max(float(np.ptp(verts[:, 0])), float(np.ptp(verts[:, 1])), 1e-6)
        scale = min(1.0, 2.0 * SIZE / side)
        small = verts.copy()
        small[:, :2] = (verts[:, :2] - verts[:, :2].min(0)) * scale
        n = int(np.ceil(side * scale)) + 1
        vis = vertex_visibility(small, rasterize(small, model.triangles, n, n))[lm]
        pts = verts[lm, :2]
        h, w = image.shape[:2]
        vis &= (pts[:, 0] >= -0.5) & (pts[:, 0] < w - 0.5) & (pts[:, 1] >= -0.5) & (pts[:, 1] < h - 0.5)
        marks.append(pts)
        visible.append(vis)
    return np.stack(marks), np.stack(visible)


@pytest.fixture(scope="module")
def case(tiny_dataset, tiny_model_path):
    records = readers.read_folder(tiny_dataset / "test")[:6]
    boxes = np.stack([np.r_[r.landmarks68.min(0), r.landmarks68.max(0)] for r in records])
    images = [readers.load_image(r.image_path) for r in records]
    model = MorphableModel.load(tiny_model_path)
    params = np.stack([np.r_[readers.pose(r), r.shape_para, r.exp_para] for r in records])
    return cascade_bundle(model, boxes, params), images, boxes


def test_fast_path_landmarks_equal_the_plain_cascade_within_a_thousandth_of_a_pixel(case):
    bundle, images, boxes = case
    want, want_visible = plain_cascade(bundle, images, boxes)
    got = CascadeAligner(bundle, "cpu").align(images, boxes)
    start = CascadeAligner(bundle, "cpu").iterate(images, boxes)[1][0]
    moved = np.abs(CascadeAligner(bundle, "cpu").landmarks(start) - want).max()
    assert moved > 1.0  # the stages really move the landmarks, so the comparison means something
    np.testing.assert_allclose(np.stack([a.landmarks for a in got]), want, atol=1e-3, rtol=0)
    np.testing.assert_array_equal(np.stack([a.visible for a in got]), want_visible)


def test_timed_call_returns_the_same_faces_and_every_part(case):
    bundle, images, boxes = case
    aligner = CascadeAligner(bundle, "cpu")
    plain = aligner.align(images[:1], boxes[:1])[0]
    timed, parts = aligner.align_timed(images[:1], boxes[:1])
    np.testing.assert_array_equal(timed[0].landmarks, plain.landmarks)
    stages = [f"stage{k}_{part}" for k in range(3) for part in ("geometry", "pncc", "network", "update")]
    assert set(parts) == {"crop", *stages, "landmarks", "visibility"}
    assert all(v >= 0 for v in parts.values())
