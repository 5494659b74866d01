"""The DFF extractor on ONNX Runtime: export a ``models/dff`` directory, describe images.

An exported extractor directory holds the source's ``dff.json`` with ``"onnx": "dff.onnx"``
and ``"runtime": "onnxruntime"`` added (``weights`` dropped) and ``dff.onnx``: the U-Net with
its batch norms folded, input (B, 3, S, S) float32 normalised as
:func:`facealign.models.dff_unet.normalize_images` does, output (B, dim, S, S) unit
descriptors, batch axis dynamic, S fixed at the training size.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from facealign.models.dff_extractor import MANIFEST, DFFExtractor, read_extractor_manifest
from facealign.models.dff_unet import normalize_images_numpy
from facealign.models.fused_net import fold_batch_norm
from facealign.models.onnx_export import export_onnx
from facealign.models.runners import OnnxRunner
from faceio import atomic

ONNX_FILE = "dff.onnx"


def export_dff_extractor(source: str | Path, destination: str | Path) -> Path:
    """Export the extractor in ``source`` (a ``models/dff``-style directory) into ``destination``."""
    source, destination = Path(source), Path(destination)
    extractor = DFFExtractor.load(source, device="cpu")
    s = extractor.image_size
    example = torch.zeros(1, 3, s, s).uniform_(-2.0, 2.0, generator=torch.Generator().manual_seed(0))
    destination.mkdir(parents=True, exist_ok=True)
    export_onnx(fold_batch_norm(extractor.net), example, destination / ONNX_FILE)
    manifest = json.loads((source / MANIFEST).read_text())
    manifest.pop("weights", None)
    atomic.write_json(destination / MANIFEST, {**manifest, "onnx": ONNX_FILE, "runtime": "onnxruntime"})
    return destination


class OnnxDFFExtractor:
    """:class:`facealign.models.dff_extractor.DFFExtractor`'s ``describe`` on ONNX Runtime.

    Attributes:
        image_size: S, pixels; dim: D; batch_size: images per run; device: the provider.
    """

    def __init__(self, runner: OnnxRunner, image_size: int, dim: int, batch_size: int = 16) -> None:
        self.runner = runner
        self.image_size, self.dim, self.batch_size = int(image_size), int(dim), int(batch_size)
        self.device = runner.device

    @classmethod
    def load(cls, path: str | Path, threads: int | None = None) -> OnnxDFFExtractor:
        """Read a directory written by :func:`export_dff_extractor`; errors name the file."""
        manifest = read_extractor_manifest(path, ("image_size", "dim", "onnx"), "an exported DFF extractor")
        runner = OnnxRunner(Path(path) / manifest["onnx"], threads)
        return cls(runner, manifest["image_size"], manifest["dim"])

    def describe(self, images: np.ndarray) -> np.ndarray:
        """(B, S, S, 3) uint8 RGB crops -> (B, dim, S, S) float32 unit descriptors."""
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3) or images.dtype != np.uint8:
            raise ValueError(f"describe expects (B, {s}, {s}, 3) uint8 RGB images, "
                             f"got {images.dtype} {images.shape}")
        out = np.empty((images.shape[0], self.dim, s, s), np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            chunk = images[start : start + self.batch_size]
            out[start : start + len(chunk)] = self.runner(normalize_images_numpy(chunk))
        return out
