"""``face_model.kind``: the 3DDFA pieces as a landmark mesh, and errors that name the parameter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from facealign.face_model import build_face_model

SHARED = Path(os.environ.get("FACEALIGN_SHARED", Path(__file__).resolve().parents[2] / ".." / "shared"))
BFM_3DDFA = SHARED / "data" / "models" / "bfm_3ddfa"


@pytest.mark.skipif(not BFM_3DDFA.is_dir(), reason=f"{BFM_3DDFA} not found")
def test_the_3ddfa_pieces_build_a_meshed_model_of_their_40_and_10_components():
    model = build_face_model({"kind": "3ddfa_68", "path": str(BFM_3DDFA), "n_id": 199, "n_exp": 29})
    assert (model.n_id, model.n_exp) == (40, 10)
    assert model.n_vertices > 160 and len(model.triangles) > 0


def test_a_missing_model_file_names_the_parameter(tmp_path):
    with pytest.raises(FileNotFoundError, match="face_model.path"):
        build_face_model({"kind": "3ddfa_68", "path": str(tmp_path / "none"), "n_id": 1, "n_exp": 1})
