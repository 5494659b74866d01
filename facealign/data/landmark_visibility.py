"""Ground-truth visibility of the 68 landmarks of an annotated face, for the visible-point protocols.

A landmark is visible when its vertex passes the z-buffer test on the ground-truth mesh
(:func:`facegeom.rasterize.vertex_visibility`: inside the image and not behind the surface),
which is the rule the synthetic generator applies when it writes the 21 AFLW points of
``pt2d`` (-1 where hidden).  The mesh is, by ``source``:

* ``"label mesh"``: the label's own parameters (``Pose_Para``, ``Shape_Para``, ``Exp_Para``)
  rendered with the face model, used when they reproduce the label's 68 landmarks within
  ``tolerance_px``: the synthetic data with the model that made it (then this is exactly the
  generator's visibility), or AFLW2000-3D with the BFM it was fitted with.
* ``"mean shape at the label pose"``: otherwise (e.g. real AFLW2000-3D faces measured with
  the embedded procedural model, whose components are not the BFM's): the model's mean face
  turned by the label's pitch / yaw / roll, with scale and shift fitted by least squares to
  the label's 68 landmarks.  Self-occlusion is a matter of pose, so this is close, not exact.

Then, where the annotation marks an AFLW point missing (``pt2d`` -1, AFLW's annotators leave
hidden points out), the 68-point landmark it maps to one-to-one is hidden too: the
annotation wins where it exists.  Pixels: 0-based, y down.
"""

from __future__ import annotations

import numpy as np

from facealign.data import readers
from faceeval.nme import AFLW21_FROM_68
from facegeom.camera import project
from facegeom.morphable_model import MorphableModel
from facegeom.rasterize import rasterize, vertex_visibility

LABEL_MESH = "label mesh"
MEAN_SHAPE = "mean shape at the label pose"


def _label_vertices(record: readers.FaceRecord, model: MorphableModel,
                    tolerance_px: float) -> np.ndarray | None:
    """(N, 3) image vertices of the label's own mesh, or None when the model cannot
    reproduce the label's 68 landmarks (other components, or off by > ``tolerance_px``)."""
    if record.shape_para.size != model.n_id or record.exp_para.size != model.n_exp:
        return None
    verts = project(readers.pose(record), model.vertices(record.shape_para, record.exp_para))
    err = np.abs(verts[model.landmarks, :2] - record.landmarks68).max()
    return verts if err <= tolerance_px else None


def _mean_shape_vertices(record: readers.FaceRecord, model: MorphableModel) -> np.ndarray:
    """(N, 3) the mean face at the label's rotation, scaled and shifted onto its 68 landmarks."""
    angles = readers.pose(record)[1:4]
    unit = project(np.array([1.0, *angles, 0.0, 0.0]), model.mean).astype(np.float64)
    src, dst = unit[model.landmarks, :2], record.landmarks68
    src_c, dst_c = src - src.mean(0), dst - dst.mean(0)
    scale = float((src_c * dst_c).sum() / max((src_c**2).sum(), 1e-12))
    shift = dst.mean(0) - scale * src.mean(0)
    verts = unit * scale
    verts[:, :2] += shift
    return verts.astype(np.float32)


def annotated_hidden(record: readers.FaceRecord) -> np.ndarray:
    """(68,) bool: landmarks whose one-to-one AFLW point the annotation marks missing
    (all False when ``pt2d`` is not the 21-point AFLW annotation)."""
    hidden = np.zeros(68, bool)
    if record.pt2d.shape != (len(AFLW21_FROM_68), 2):
        return hidden
    missing = ~np.isfinite(record.pt2d).all(axis=1)
    for k, src in enumerate(AFLW21_FROM_68):
        if isinstance(src, int) and src >= 0 and missing[k]:
            hidden[src] = True
    return hidden


def landmark_visibility(record: readers.FaceRecord, model: MorphableModel,
                        tolerance_px: float = 0.5) -> tuple[np.ndarray, str]:
    """(68,) bool visibility of the label's landmarks and its ``source`` (module docstring).

    Args:
        record: an annotated face (AFLW2000-3D / 300W-LP layout).
        model: the face model to build the ground-truth mesh with.
        tolerance_px: how close (pixels, every coordinate) the model must reproduce the
            label's 68 landmarks for its own mesh to count.
    """
    verts = _label_vertices(record, model, tolerance_px)
    source = LABEL_MESH if verts is not None else MEAN_SHAPE
    if verts is None:
        verts = _mean_shape_vertices(record, model)
    h, w = record.image_size
    visible = vertex_visibility(verts, rasterize(verts, model.triangles, h, w))[model.landmarks]
    return visible & ~annotated_hidden(record), source
