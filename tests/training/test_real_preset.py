"""The ``real`` preset end to end: a 300W-LP tree, an AFLW2000-3D folder and a BFM ``.mat``.

The 300W-LP tree holds the real sample of ``../shared/data/real/300wlp_sample`` (``IBUG/``),
faces rendered from the model (``SYN/``, written in the 300W-LP layout: 68-point ``pt2d``,
no ``pt3d_68``) and a ``landmarks/`` folder of ``*_pts.mat`` files that is not training data.
The model is a BFM-layout ``.mat`` the test writes: the real Basel Face Model at its 68
landmarks (the 3DDFA pieces, 40 identity + 10 expression) as a subdivided landmark mesh, so
the labels' 199 + 29 coefficients are truncated.  The AFLW2000-3D folder is the six real
dev images.  Every stage of the preset runs through ``facealign`` with tiny sizes.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from commands.cli import main
from facealign.data import readers
from facealign.data.real_reader import read_tree, reprojection_errors
from facegeom.landmark_mesh import landmark_mesh
from facegeom.model_files import load_3ddfa_landmark_model, save_bfm_mat
from facegeom.morphable_model import MorphableModel

SHARED = Path(os.environ.get("FACEALIGN_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared"))
SAMPLE = SHARED / "data" / "real" / "300wlp_sample"
AFLW = SHARED / "data" / "real" / "aflw2000_dev"
BFM_3DDFA = SHARED / "data" / "models" / "bfm_3ddfa"
PARAMS = Path(__file__).resolve().parents[2] / "params.yaml"
INNER = slice(17, 68)  # the 51 points off the jaw contour

pytestmark = pytest.mark.skipif(not (SAMPLE.is_dir() and AFLW.is_dir() and BFM_3DDFA.is_dir()),
                                reason=f"real reference data not found under {SHARED}")

TINY = [  # every stage of the preset, small enough for seconds on two cores
    "synthesize.workers=1", "synthesize.n_train=24", "synthesize.n_test=2",
    "cascade.stages=2", "cascade.max_epochs=1", "cascade.batch_size=8", "cascade.num_workers=0",
    "cascade.input_size=32", "cascade.loss_vertices=16", "cascade.mlflow=false",
    "segment.n_segmentations=2", "segment.n_patches=16", "segment.lloyd_iterations=2",
    "dff.data.n_train=8", "dff.data.image_size=64", "dff.net.widths=[8,16]", "dff.loss.pixels_per_image=32",
    "dff.train.batch_size=4", "dff.train.max_epochs=1", "dff.train.num_workers=0",
    "sdm.train_images=0", "sdm.validation_images=4", "sdm.iterations=2", "sdm.n_landmarks=100",
    "sdm.inits_per_image=1", "sdm.sift_image_size=64", "sdm.ridge=[1,10]", "sdm.n_id=20", "sdm.n_exp=10",
]


def _to_300wlp_layout(src: Path, dst: Path) -> None:
    """An AFLW2000-3D-layout pair rewritten as 300W-LP has it: 68-point ``pt2d``, no ``pt3d_68``."""
    fields = readers.read_mat_fields(src)
    fields["pt2d"] = fields.pop("pt3d_68")[:2]
    readers.write_mat(dst, fields)
    shutil.copy(src.with_suffix(".jpg"), dst.with_suffix(".jpg"))


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A project folder with params.yaml, the BFM-layout model and the 300W-LP tree."""
    root = tmp_path_factory.mktemp("real_preset")
    shutil.copy(PARAMS, root / "params.yaml")
    shutil.copytree(PARAMS.parent / "conf", root / "conf")  # the presets params.yaml is composed from
    save_bfm_mat(landmark_mesh(load_3ddfa_landmark_model(BFM_3DDFA)), root / "BFM.mat")
    tree = root / "300W_LP"
    (tree / "IBUG").mkdir(parents=True)
    for f in SAMPLE.iterdir():
        shutil.copy(f, tree / "IBUG" / f.name)
    (tree / "landmarks" / "IBUG").mkdir(parents=True)  # 2D-only points: not a training pair
    sample = readers.read_face_mat(tree / "IBUG" / "IBUG_image_008_1_0.mat")
    readers.write_mat(tree / "landmarks" / "IBUG" / "IBUG_image_008_1_0_pts.mat",
                      {"pts_2d": sample.landmarks68 + 1})
    return root


def _facealign(project: Path, *argv: str, extra: tuple[str, ...] = ()) -> None:
    sets = [f"paths.w300lp={project / '300W_LP'}", f"paths.aflw2000={AFLW}",
            f"face_model.path={project / 'BFM.mat'}", f"paths.real_data=[{AFLW}]",
            f"mlflow.tracking_uri=sqlite:///{project / 'mlflow.db'}", *TINY, *extra]
    cwd = Path.cwd()
    os.chdir(project)
    try:
        code = main([*argv, "--preset", "real", *[a for s in sets for a in ("--set", s)]])
    finally:
        os.chdir(cwd)
    assert code == 0, f"facealign {' '.join(argv)} failed"


def test_the_real_preset_trains_and_evaluates_both_families(project, capsys):
    _facealign(project, "build-model")
    model = MorphableModel.load(project / "models" / "face_model.npz")
    assert (model.n_id, model.n_exp) == (40, 10)
    _facealign(project, "synthesize", extra=("paths.data=generated",))  # faces of the model itself
    (project / "300W_LP" / "SYN").mkdir()
    for mat in sorted((project / "generated" / "train").glob("*.mat")):
        _to_300wlp_layout(mat, project / "300W_LP" / "SYN" / mat.name)

    _facealign(project, "prepare-real")
    assert "truncated to the model's components" in capsys.readouterr().out
    train = project / "data" / "real" / "train"
    names = sorted(p.name for p in train.glob("*.mat"))
    assert "IBUG__IBUG_image_008_1_0.mat" in names and len(names) == 25  # no landmarks/ file
    assert (train / "IBUG__IBUG_image_008_1_0.jpg").is_symlink()

    # before training: the targets the stages train on are the labels through the model
    records = read_tree(train)
    assert {r.shape_para.size for r in records} == {40} and {r.exp_para.size for r in records} == {10}
    errors = dict(zip((r.mat_path.name for r in records), reprojection_errors(records, model), strict=True))
    real = errors.pop("IBUG__IBUG_image_008_1_0.mat")
    assert max(errors.values()) < 2.0  # every generated face, in the 300W-LP layout
    test_records = read_tree(project / "data" / "real" / "test")
    assert np.all(reprojection_errors(test_records, model) < 2.0)  # the real AFLW2000-3D faces
    sample = next(r for r in records if r.mat_path.name.startswith("IBUG__"))
    inner = np.linalg.norm(_reprojected(sample, model) - sample.landmarks68, axis=1)[INNER]
    assert np.median(inner) < 5.0 and real < 10.0  # 300W-LP's pt2d jaw follows the 2D contour
    labels = json.loads((project / "data" / "real" / "labels.json").read_text())
    assert labels["train"]["n_images"] == 25 and labels["test"]["n_images"] == 6

    _facealign(project, "train-cascade")
    _facealign(project, "evaluate-cascade")
    _facealign(project, "segment")
    _facealign(project, "synthesize", "--profile", "dff")
    _facealign(project, "train-dff")
    for kind in ("dff", "sift"):
        _facealign(project, "fit-sdm", "--descriptor", kind)
        _facealign(project, "evaluate", "--model", f"models/{kind}_sdm", "--data", "data/real/test",
                   "--output", f"metrics/{kind}_sdm.json")
    for name in ("cascade", "dff_sdm", "sift_sdm"):
        metrics = json.loads((project / "metrics" / f"{name}.json").read_text())
        assert metrics["n_images"] == 6 and np.isfinite(metrics["nme_mean"]), name


def _reprojected(record: readers.FaceRecord, model: MorphableModel) -> np.ndarray:
    from facealign.data.real_reader import reprojected_landmarks

    return reprojected_landmarks([record], model)[0]
