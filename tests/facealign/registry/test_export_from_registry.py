"""``facealign export --model models:/...``: a registry version's aligner is exported, and the
exported directory is itself registrable and served through the registry loader."""

from __future__ import annotations

import numpy as np
from tiny_faces import NAME, face_image, face_layout
from tiny_networks import cascade_bundle

from facealign.aligners.onnx_aligners import export_aligner
from facealign.manifest import read_manifest
from facealign.models.cascade_bundle import save_bundle
from facealign.registry import log_and_register
from facealign.registry.loading import aligner_directory, load_aligner
from facegeom.morphable_model import MorphableModel


def test_a_registry_version_exports_and_the_export_registers_and_loads(registry, tmp_path, tiny_model_path):
    model = MorphableModel.load(tiny_model_path)
    lm = face_layout() * [0.4, -0.4] + 60.0
    box = np.r_[lm.min(0), lm.max(0)][None]
    params = np.zeros((1, 6 + model.n_id + model.n_exp))
    params[0, [0, 4, 5]] = 0.5, 60.0, 60.0
    source = save_bundle(cascade_bundle(model, box, params, stages=1), tmp_path / "cascade")
    metrics = {"nme_mean": 9.0, "nme_0_30": 9.0, "nme_30_60": 9.0, "nme_60_90": 9.0}
    version = log_and_register(source, metrics, registry["cfg"], test_data_hash=registry["test_hash"])

    local = aligner_directory(f"models:/{NAME}/{version}", tmp_path / "download")
    assert read_manifest(local)["family"] == "cascade" and local.is_relative_to(tmp_path / "download")
    exported = export_aligner(local, tmp_path / "cascade_onnx")

    onnx_version = log_and_register(exported, metrics, registry["cfg"], test_data_hash=registry["test_hash"])
    served = load_aligner(f"models:/{NAME}/{onnx_version}")
    assert served.device.startswith("onnxruntime:")
    image = face_image(lm)
    np.testing.assert_allclose(served.align([image], box)[0].landmarks,
                               load_aligner(str(source)).align([image], box)[0].landmarks, atol=0.05)
