"""``facealign export``: an aligner's networks as ONNX models, runnable on ONNX Runtime.

``--model`` is an aligner directory or a registry / run URI (``models:/face-alignment@champion``);
the output is a new aligner directory (family ``cascade_onnx`` or ``dff_sdm_onnx``) that
``facealign evaluate / predict / serve --model DIR`` load like any other.  See
``docs/inference.md``.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

HELP = "export an aligner's networks (cascade stages, DFF U-Net) to ONNX, runnable on ONNX Runtime"
FORMATS = ("onnx",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True,
                        help="aligner directory or registry URI (models:/..., runs:/...)")
    parser.add_argument("--format", choices=FORMATS, default="onnx",
                        help="export format (default: %(default)s)")
    parser.add_argument("--output", required=True, help="the exported aligner directory to write")


def run(args: argparse.Namespace, cfg: dict) -> int:
    import mlflow

    from facealign import tracking
    from facealign.aligners.onnx_aligners import export_aligner
    from facealign.manifest import read_manifest
    from facealign.registry.loading import aligner_directory

    mlflow.set_tracking_uri(tracking.tracking_uri(cfg))
    with tempfile.TemporaryDirectory(prefix="facealign-export-") as download:
        source = aligner_directory(args.model, download)
        output = export_aligner(source, Path(args.output))
    manifest = read_manifest(output)
    print(f"{output}: {manifest['family']} ({args.format}, from {args.model})")
    return 0
