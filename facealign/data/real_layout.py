"""Lay real datasets out as the pipeline's ``<paths.data>/{train,test}`` folders.

Every stage reads flat folders of ``.jpg`` + ``.mat`` pairs (:mod:`facealign.data.readers`).
:func:`prepare_real_data` fills ``<out>/train`` from a 300W-LP tree and ``<out>/test``
from an AFLW2000-3D folder without copying images: each image is a symbolic link to the
user's file, named ``<subfolder>__<stem>`` (300W-LP repeats stems in its ``*_Flip``
folders).  Annotations are linked too when their coefficient counts match the face model;
otherwise a copy with ``Shape_Para`` / ``Exp_Para`` truncated (or zero-padded) to the
model's components is written (:mod:`facealign.data.real_reader`), so that every model
family reads labels of the model's size.  ``<out>/labels.json`` records, per split, the
source folder, the coefficient note and how far the labels reproject from the files'
landmarks (pixels).  The whole folder is written as ``<out>.partial`` and renamed at the end.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facealign.data import readers
from facealign.data.real_reader import (
    coefficient_note,
    find_annotations,
    fitted_coefficients,
    reprojection_errors,
)
from facegeom.morphable_model import MorphableModel
from faceio.atomic import atomic_directory, write_json

SPLITS = ("train", "test")


def _link_name(mat: Path, root: Path) -> str:
    parts = mat.relative_to(root).with_suffix("").parts
    return "__".join(parts)


def _write_split(mats: list[Path], root: Path, out_dir: Path, model: MorphableModel,
                 records: list[readers.FaceRecord]) -> None:
    out_dir.mkdir(parents=True)
    for mat, record in zip(mats, records, strict=True):
        name = _link_name(mat, root)
        os.symlink(record.image_path.resolve(), out_dir / f"{name}{record.image_path.suffix.lower()}")
        if record.shape_para.size == model.n_id and record.exp_para.size == model.n_exp:
            os.symlink(mat.resolve(), out_dir / f"{name}.mat")
            continue
        fields = readers.read_mat_fields(mat)
        fields["Shape_Para"] = fitted_coefficients(record.shape_para, model.n_id).reshape(-1, 1)
        fields["Exp_Para"] = fitted_coefficients(record.exp_para, model.n_exp).reshape(-1, 1)
        readers.write_mat(out_dir / f"{name}.mat", fields)


def split_summary(root: Path, records: list[readers.FaceRecord], model: MorphableModel) -> dict:
    """``labels.json``'s entry for one split: source, count, coefficient note, reprojection (px)."""
    err = reprojection_errors(records, model)
    return {"source": str(root), "n_images": len(records), "coefficients": coefficient_note(records, model),
            "reprojection_px": {"mean": float(np.nanmean(err)), "median": float(np.nanmedian(err)),
                                "max": float(np.nanmax(err)), "n_over_2px": int(np.sum(err > 2.0))}}


def prepare_real_data(train_root: str | Path, test_root: str | Path, out: str | Path,
                      model: MorphableModel, log: Callable[[str], None] = print) -> dict:
    """Write ``out/train`` (300W-LP tree), ``out/test`` (AFLW2000-3D folder) and ``out/labels.json``.

    Args:
        train_root: the 300W-LP root (its ``landmarks/`` folder is skipped).
        test_root: the AFLW2000-3D folder (or any tree in the same layout).
        out: the data folder the stages read (``paths.data``); replaced when complete.
        model: the face model the stages train with (its component counts decide the labels').
        log: one line per split goes here.
    Returns:
        the ``labels.json`` content: ``{split: split_summary(...)}``.
    """
    out = Path(out)
    summary = {}
    with atomic_directory(out) as tmp:
        for split, root in zip(SPLITS, (Path(train_root), Path(test_root)), strict=True):
            mats = find_annotations(root)
            records = [readers.read_face_mat(p) for p in mats]
            _write_split(mats, root, tmp / split, model, records)
            summary[split] = entry = split_summary(root, records, model)
            note = f"; {entry['coefficients']}" if entry["coefficients"] else ""
            px = entry["reprojection_px"]
            log(f"{out / split}: {len(records)} faces from {root}{note}; labels reproject "
                f"{px['mean']:.2f} px mean, {px['max']:.2f} px max from the files' landmarks")
        write_json(tmp / "labels.json", summary)
    return summary
