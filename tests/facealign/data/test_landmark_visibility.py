"""Ground-truth landmark visibility: the generator's own rule on synthetic data, the pose rule
and the annotation's missing points on real AFLW2000-3D faces."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facealign.data import readers
from facealign.data.landmark_visibility import (
    LABEL_MESH,
    MEAN_SHAPE,
    annotated_hidden,
    landmark_visibility,
)
from faceeval import map_68_to_21
from facegeom.morphable_model import MorphableModel


@pytest.fixture(scope="module")
def model(tiny_model_path: Path) -> MorphableModel:
    return MorphableModel.load(tiny_model_path)


def hidden21(visible68: np.ndarray) -> np.ndarray:
    """(21,) bool: AFLW points hidden when any 68 point they come from is hidden (the generator's rule)."""
    return ~np.isfinite(map_68_to_21(np.where(visible68, 0.0, np.nan)[:, None].repeat(2, 1))[:, 0])


def test_synthetic_labels_give_back_the_generators_visibility(model, tiny_dataset: Path) -> None:
    records = readers.read_folder(tiny_dataset / "test")
    hidden_somewhere = 0
    for rec in records:
        visible, source = landmark_visibility(rec, model)
        assert source == LABEL_MESH
        written = ~np.isfinite(rec.pt2d).all(axis=1)  # the generator's -1
        ears = [12, 16]  # written by the earlier mapping as always missing
        keep = np.setdiff1d(np.arange(21), ears)
        np.testing.assert_array_equal(hidden21(visible)[keep], written[keep], err_msg=rec.mat_path.name)
        hidden_somewhere += int((~visible).any())
    assert hidden_somewhere >= 4  # the large-yaw third of the split hides points


def test_a_model_that_cannot_reproduce_the_labels_falls_back_to_the_pose(tiny_dataset: Path) -> None:
    from facegeom.procedural_face import build_procedural_model

    other = build_procedural_model(n_id=5, n_exp=4, resolution=24, seed=1)  # other components
    rec = max(readers.read_folder(tiny_dataset / "test"), key=lambda r: abs(readers.yaw_degrees(r)))
    visible, source = landmark_visibility(rec, other)
    assert source == MEAN_SHAPE
    # at |yaw| > 60 the far half of the jaw contour is behind the face
    far = range(0, 8) if readers.yaw_degrees(rec) > 0 else range(9, 17)
    assert not visible[list(far)].all()


def test_real_faces_hide_what_the_annotation_lacks(model, shared_dir) -> None:
    path = shared_dir / "real" / "aflw2000_dev" / "image00475.mat"  # yaw 66: far side hidden
    if not path.is_file():
        pytest.skip(f"{path} absent")
    rec = readers.read_face_mat(path)
    hidden = annotated_hidden(rec)
    assert np.nonzero(hidden)[0].tolist() == [2, 17, 19, 21, 36, 39, 48]  # AFLW 13, 1-3, 7, 9, 18
    visible, source = landmark_visibility(rec, model)
    assert source == MEAN_SHAPE  # the tiny model is not the BFM the labels were fitted with
    assert not visible[hidden].any()
    assert visible[[42, 45, 54, 30]].all()  # the near eye corners, near mouth corner, nose tip
