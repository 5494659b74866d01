"""Aligners on ONNX Runtime: export a saved aligner's networks, load the exported directory.

``export_aligner(source, output)`` reads a saved aligner directory and writes a new one
whose networks are ONNX models (dynamic batch axis, batch norms folded), everything else
(statistics, morphable model, descent maps, settings) copied:

* ``cascade`` -> family ``cascade_onnx``: ``stage<k>.onnx`` (input (B, 6, S, S), output
  (B, P)) beside ``stats.npz`` and ``face_model.npz``; the manifest keeps the cascade's
  fields with ``weights`` naming the ONNX files;
* ``dff_sdm`` -> family ``dff_sdm_onnx``: the SDM directory with ``extractor/`` holding
  ``dff.onnx`` (:mod:`facealign.models.dff_onnx`).

Both manifests add ``"runtime": "onnxruntime"`` and ``"exported_from"`` (the source family).
Loaded, they are the same :class:`facealign.aligners.cascade.CascadeAligner` and
:class:`facealign.aligners.sdm.SDMAligner` with ONNX Runtime computing the networks (CUDA
provider where the installed ``onnxruntime`` has it, else CPU).  ``mean_shape`` and
``sift_sdm`` have no network and are refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from facealign.aligners.cascade import CascadeAligner
from facealign.aligners.sdm import EXTRACTOR_DIR
from facealign.manifest import is_aligner_dir, read_file, read_manifest, write_manifest
from facealign.models.cascade_bundle import CascadeBundle, load_bundle
from facealign.models.dff_onnx import export_dff_extractor
from facealign.models.fused_net import fold_batch_norm
from facealign.models.onnx_export import export_onnx
from facealign.models.param_stats import load_stats
from facealign.models.runners import OnnxRunner
from facegeom.morphable_model import MorphableModel
from faceio.atomic import atomic_directory

EXPORTED_FAMILY = {"cascade": "cascade_onnx", "dff_sdm": "dff_sdm_onnx"}
RUNTIME = "onnxruntime"


def export_aligner(source: str | Path, output: str | Path) -> Path:
    """Export the aligner directory ``source`` to ``output`` (replaced atomically); returns it."""
    source, output = Path(source), Path(output)
    family = read_manifest(source)["family"]
    if family not in EXPORTED_FAMILY:
        raise ValueError(f"{source}: family {family!r} has no network to export "
                         f"(exportable: {', '.join(EXPORTED_FAMILY)})")
    if output.resolve() == source.resolve():
        raise ValueError(f"{output}: the output must not be the source directory")
    if output.exists() and not is_aligner_dir(output) and (not output.is_dir() or any(output.iterdir())):
        raise ValueError(f"{output}: exists and is not an aligner directory (refusing to replace it)")
    with atomic_directory(output) as tmp:
        (_export_cascade if family == "cascade" else _export_dff_sdm)(source, tmp)
    return output


def _export_cascade(source: Path, out: Path) -> None:
    bundle = load_bundle(source)
    manifest = read_manifest(source, "cascade")
    example = torch.zeros(1, 6, bundle.input_size, bundle.input_size).uniform_(
        -0.5, 0.5, generator=torch.Generator().manual_seed(0))
    names = []
    for k, net in enumerate(bundle.build_nets("cpu")):
        names.append(f"stage{k}.onnx")
        export_onnx(fold_batch_norm(net), example, out / names[-1])
    for key in ("stats", "face_model"):
        shutil.copy2(source / manifest[key], out / manifest[key])
    write_manifest(out, {**manifest, "family": EXPORTED_FAMILY["cascade"], "weights": names,
                         "runtime": RUNTIME, "exported_from": "cascade"})


def _export_dff_sdm(source: Path, out: Path) -> None:
    manifest = read_manifest(source, "dff_sdm")
    for item in source.iterdir():
        if item.name in (EXTRACTOR_DIR, "aligner.json"):
            continue
        (shutil.copytree if item.is_dir() else shutil.copy2)(item, out / item.name)
    export_dff_extractor(source / EXTRACTOR_DIR, out / EXTRACTOR_DIR)
    write_manifest(out, {**manifest, "family": EXPORTED_FAMILY["dff_sdm"], "runtime": RUNTIME,
                         "exported_from": "dff_sdm"})


def load_cascade_onnx(path: str | Path, threads: int | None = None) -> CascadeAligner:
    """The ``cascade_onnx`` directory ``path`` as a cascade aligner on ONNX Runtime.

    ``threads``: ONNX Runtime intra-op threads (default: torch's setting).
    """
    path = Path(path)
    manifest = read_manifest(path, "cascade_onnx",
                             required=("stages", "input_size", "crop_scale", "crop_shift", "net",
                                       "weights", "stats", "face_model"),
                             hint="; make one with `facealign export --format onnx`")
    k = int(manifest["stages"])
    if len(manifest["weights"]) != k:
        raise ValueError(f"{path / 'aligner.json'}: field 'weights' names {len(manifest['weights'])} "
                         f"models for {k} stages")
    names = ["params", *[f"delta{i}" for i in range(k)]]
    stats = read_file(path / manifest["stats"], lambda p: load_stats(p, names), "cascade statistics")
    bundle = CascadeBundle(
        model=read_file(path / manifest["face_model"], MorphableModel.load, "face model"),
        net=manifest["net"],
        input_size=int(manifest["input_size"]), crop_scale=float(manifest["crop_scale"]),
        crop_shift=float(manifest["crop_shift"]), param_stats=stats["params"],
        delta_stats=[stats[f"delta{i}"] for i in range(k)], weights=[],
        info={"runtime": RUNTIME, "exported_from": manifest.get("exported_from")})
    return CascadeAligner(bundle, nets=[OnnxRunner(path / name, threads) for name in manifest["weights"]])
