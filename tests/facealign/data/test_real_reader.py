"""300W-LP trees and AFLW2000-3D folders read for a model: skipped folders, label sizes, reprojection."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from facealign.data import readers
from facealign.data.real_layout import prepare_real_data
from facealign.data.real_reader import (
    coefficient_note,
    find_annotations,
    fitted_coefficients,
    read_tree,
    reprojection_errors,
)
from facegeom.landmark_mesh import landmark_mesh
from facegeom.model_files import load_3ddfa_landmark_model

SHARED = Path(os.environ.get("FACEALIGN_SHARED", Path(__file__).resolve().parents[3] / ".." / "shared"))
AFLW = SHARED / "data" / "real" / "aflw2000_dev"
SAMPLE = SHARED / "data" / "real" / "300wlp_sample"
BFM_3DDFA = SHARED / "data" / "models" / "bfm_3ddfa"
needs_shared = pytest.mark.skipif(not (AFLW.is_dir() and SAMPLE.is_dir() and BFM_3DDFA.is_dir()),
                                  reason=f"real reference data not found under {SHARED}")


def test_label_coefficients_are_truncated_or_zero_padded_to_the_model():
    np.testing.assert_array_equal(fitted_coefficients(np.arange(1.0, 6.0), 3), [1, 2, 3])
    np.testing.assert_array_equal(fitted_coefficients(np.array([1.0, 2.0]), 4), [1, 2, 0, 0])


def test_a_folder_without_annotations_is_an_error_naming_it(tmp_path):
    with pytest.raises(readers.DatasetError, match=str(tmp_path)):
        find_annotations(tmp_path)
    with pytest.raises(readers.DatasetError, match="folder not found"):
        find_annotations(tmp_path / "missing")


@needs_shared
def test_a_300wlp_tree_is_read_below_its_root_without_the_landmarks_folder(tmp_path):
    for sub in ("IBUG", "IBUG_Flip", "landmarks/IBUG"):
        (tmp_path / sub).mkdir(parents=True)
    for f in SAMPLE.iterdir():
        shutil.copy(f, tmp_path / "IBUG" / f.name)
        shutil.copy(f, tmp_path / "IBUG_Flip" / f.name)
    readers.write_mat(tmp_path / "landmarks" / "IBUG" / "IBUG_image_008_1_0_pts.mat",
                      {"pts_2d": np.ones((68, 2))})
    mats = find_annotations(tmp_path)
    assert [m.relative_to(tmp_path).as_posix() for m in mats] == [
        "IBUG/IBUG_image_008_1_0.mat", "IBUG_Flip/IBUG_image_008_1_0.mat"]


@needs_shared
def test_aflw2000_labels_reproject_within_2px_through_the_3ddfa_mesh():
    model = landmark_mesh(load_3ddfa_landmark_model(BFM_3DDFA))
    records = read_tree(AFLW)
    assert np.all(reprojection_errors(records, model) < 2.0)
    assert "199 identity + 29 expression" in coefficient_note(records, model)
    assert "truncated" in coefficient_note(records, model)


@needs_shared
def test_prepare_links_images_writes_labels_of_the_models_size_and_a_summary(tmp_path):
    model = landmark_mesh(load_3ddfa_landmark_model(BFM_3DDFA))
    tree = tmp_path / "300W_LP"
    (tree / "IBUG").mkdir(parents=True)
    for f in SAMPLE.iterdir():
        shutil.copy(f, tree / "IBUG" / f.name)
    lines = []
    summary = prepare_real_data(tree, AFLW, tmp_path / "data", model, log=lines.append)
    train = read_tree(tmp_path / "data" / "train")
    assert [r.mat_path.name for r in train] == ["IBUG__IBUG_image_008_1_0.mat"]
    assert train[0].shape_para.size == 40 and train[0].exp_para.size == 10
    assert (tmp_path / "data" / "train" / "IBUG__IBUG_image_008_1_0.jpg").resolve() == \
        (tree / "IBUG" / "IBUG_image_008_1_0.jpg").resolve()
    assert summary["test"]["n_images"] == 6 and summary["test"]["reprojection_px"]["max"] < 2.0
    assert len(lines) == 2 and "truncated" in lines[0]
    # a bad test folder leaves no data folder behind
    with pytest.raises(readers.DatasetError):
        prepare_real_data(tree, tmp_path / "nowhere", tmp_path / "other", model)
    assert not (tmp_path / "other").exists() and not (tmp_path / "other.partial").exists()
