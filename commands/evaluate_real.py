"""``facealign evaluate-real``: every registry candidate on the real faces of ``paths.real_data``.

``paths.real_data`` lists AFLW2000-3D-layout folders (relative to the project root); the
existing ones are evaluated as one benchmark (their union; boxes from the ground-truth
landmarks, NME in percent by |yaw| bin).  For each candidate of ``registry.candidates``
(name -> ``mean-shape``, an aligner directory or a registry URI) it writes
``<paths.metrics>/real_<name>.json``: the metrics contract of ``metrics/<name>.json`` plus
``real_data`` (the folders used) and ``real_data_hash`` (their combined content hash),
with ``real_<name>_ced.csv`` / ``.png`` and ``real_<name>_overlays.png`` beside it.  When
no folder exists, or a candidate's aligner is missing, the file is
``{"skipped": reason, "n_images": 0}`` (with empty CED and overlay files, the stage's
declared outputs) and the command still succeeds.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = "evaluate every registry candidate on the real folders of paths.real_data: metrics/real_<model>.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", action="append", default=[], metavar="DIR",
                        help="real AFLW2000-3D-layout folder (repeatable; default: paths.real_data)")
    parser.add_argument("--model", dest="models", action="append", default=[], metavar="NAME",
                        help="candidate of registry.candidates to evaluate (repeatable; default: all)")
    parser.add_argument("--batch-size", type=int, default=32)


def configured_folders(args: argparse.Namespace, cfg: dict) -> list[str]:
    """The real folders asked for: ``--data``, else ``paths.real_data`` (a list or one path)."""
    from facealign.evaluation import as_folders

    return [str(f) for f in as_folders(args.data or cfg["paths"].get("real_data") or [])]


def missing_aligner(spec: str, cfg: dict) -> str | None:
    """Why candidate ``spec`` cannot be evaluated (its aligner or face model is absent), else None."""
    from facealign.manifest import is_aligner_dir
    from facealign.registry.loading import URI_PREFIXES

    if str(spec).startswith(URI_PREFIXES):
        return None  # a registry model: loading it says whether it exists
    if spec == "mean-shape":
        model = Path(cfg["paths"]["face_model"])
        return None if model.is_file() else f"{model} not found (run `dvc repro build_face_model`)"
    return None if is_aligner_dir(spec) else f"{spec} is not a saved aligner (train it first)"


def run(args: argparse.Namespace, cfg: dict) -> int:
    from facealign.evaluation import annotated_folders, evaluate, folders_hash, load_face_model, write_skipped
    from facealign.registry.loading import load_aligner
    from faceeval.report import format_table

    asked = configured_folders(args, cfg)
    found = annotated_folders(asked)
    candidates = dict(cfg["registry"].get("candidates") or {})
    unknown = set(args.models) - set(candidates)
    if unknown:
        raise ValueError(f"--model {', '.join(sorted(unknown))}: not in registry.candidates")
    names = args.models or list(candidates)
    metrics_dir = Path(cfg["paths"]["metrics"])
    extra = {"real_data": [str(f) for f in found], "real_data_hash": folders_hash(found) if found else None}
    rows: dict[str, dict] = {}
    face_model = load_face_model(cfg["paths"]["face_model"])
    for name in names:
        output = metrics_dir / f"real_{name}.json"
        reason = (f"no real data: none of paths.real_data {asked} is a folder with .mat annotations"
                  if not found else missing_aligner(candidates[name], cfg))
        if reason is not None:
            print(f"evaluate-real: {name}: skipped: {json.dumps(write_skipped(name, output, reason))}")
            continue
        aligner = load_aligner(candidates[name], cfg["paths"]["face_model"])
        rows[name] = evaluate(aligner, found, output, batch_size=args.batch_size,
                              n_overlays=int(cfg["evaluate"]["overlays"]), progress=False, extra=extra,
                              face_model=face_model)
    if rows:
        n_images = next(iter(rows.values()))["n_images"]
        print(f"\nNME (%) on real faces ({', '.join(extra['real_data'])}, {n_images} images):")
        print(format_table(rows))
    return 0
