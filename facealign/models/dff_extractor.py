"""The trained Deep Face Feature extractor: load a ``models/dff`` directory, describe images.

Directory layout::

    models/dff/
        dff.json      manifest: {"family": "dff", "format_version": 1, "image_size": S,
                      "dim": D, "widths": [...], "weights": "weights.pt", ...training info}
        weights.pt    the U-Net's torch state dict (loadable with ``weights_only=True``)

:meth:`DFFExtractor.describe` maps (B, S, S, 3) uint8 RGB crops at the training size to
(B, D, S, S) float32 descriptors of unit L2 norm per pixel; channel-first so that
``desc[b, :, y, x]`` is the descriptor of pixel (row y, col x).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from facealign.manifest import read_file
from facealign.models.dff_unet import DFFUNet, normalize_images
from faceio.atomic import atomic_path

MANIFEST = "dff.json"
WEIGHTS = "weights.pt"
FORMAT_VERSION = 1


def default_device() -> torch.device:
    """CUDA when available, else CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")



def read_extractor_manifest(directory: str | Path, required: tuple[str, ...], what: str,
                            hint: str = "") -> dict:
    """``<directory>/dff.json`` as a dict, with the ``required`` fields; errors name the file.

    Args:
        directory: an extractor directory (PyTorch or an ONNX export).
        required: fields that must be present.
        what: what the directory should be, for the not-found message.
        hint: appended to the not-found message (e.g. the command that makes one).
    """
    manifest_path = Path(directory) / MANIFEST
    if not manifest_path.is_file():
        raise FileNotFoundError(f"{directory}: not {what} (no {MANIFEST}{hint})")
    try:
        manifest = json.loads(manifest_path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{manifest_path}: not valid JSON ({exc})") from exc
    for key in required:
        if key not in manifest:
            raise ValueError(f"{manifest_path}: missing field {key!r}")
    return manifest

class DFFExtractor:
    """A DFF network in inference mode.

    Attributes:
        image_size: S, the square crop size the network was trained at, pixels.
        dim: D, descriptor length.
        device: where the network runs.
        batch_size: images per forward pass inside :meth:`describe` (bounds memory).
    """

    def __init__(self, net: DFFUNet, image_size: int, device: torch.device | str | None = None,
                 batch_size: int = 16) -> None:
        self.device = torch.device(device) if device is not None else default_device()
        self.net = net.to(self.device).eval()
        self.image_size = int(image_size)
        self.dim = int(net.dim)
        self.batch_size = int(batch_size)

    @classmethod
    def load(cls, path: str | Path, device: torch.device | str | None = None) -> DFFExtractor:
        """Read a directory written by :func:`save_dff_extractor`; errors name the file."""
        directory = Path(path)
        manifest_path = directory / MANIFEST
        manifest = read_extractor_manifest(directory, ("image_size", "dim", "widths"),
                                           "a DFF extractor", "; run `dvc repro train_dff`")
        if manifest.get("format_version", FORMAT_VERSION) > FORMAT_VERSION:
            raise ValueError(f"{manifest_path}: format_version {manifest['format_version']} is newer "
                             f"than this code understands ({FORMAT_VERSION})")
        weights_path = directory / manifest.get("weights", WEIGHTS)
        if not weights_path.is_file():
            raise FileNotFoundError(f"{weights_path}: DFF weights not found")
        net = DFFUNet(dim=int(manifest["dim"]), widths=manifest["widths"])
        state = read_file(weights_path, lambda p: torch.load(p, map_location="cpu", weights_only=True),
                          "DFF weights")
        try:
            net.load_state_dict(state)
        except RuntimeError as exc:
            raise ValueError(f"{weights_path}: weights do not fit the manifest's network ({exc})") from exc
        return cls(net, int(manifest["image_size"]), device)

    @torch.inference_mode()
    def describe(self, images: np.ndarray) -> np.ndarray:
        """Per-pixel descriptors.

        Args:
            images: (B, S, S, 3) uint8 RGB crops, ``S == image_size`` (a single (S, S, 3)
                image is accepted too and gets a batch axis).
        Returns:
            (B, dim, S, S) float32, unit L2 norm along axis 1.
        """
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        s = self.image_size
        if images.ndim != 4 or images.shape[1:] != (s, s, 3):
            raise ValueError(f"describe expects (B, {s}, {s}, 3) uint8 RGB images, got {images.shape}")
        if images.dtype != np.uint8:
            raise ValueError(f"describe expects uint8 images, got {images.dtype}")
        out = np.empty((images.shape[0], self.dim, s, s), np.float32)
        for start in range(0, images.shape[0], self.batch_size):
            chunk = torch.from_numpy(np.ascontiguousarray(images[start : start + self.batch_size]))
            x = normalize_images(chunk.to(self.device))
            out[start : start + len(chunk)] = self.net(x).float().cpu().numpy()
        return out


def load_dff_extractor(path: str | Path, device: torch.device | str | None = None) -> DFFExtractor:
    """The extractor saved in directory ``path`` (e.g. ``models/dff``), on ``device``
    (default: CUDA when available, else CPU)."""
    return DFFExtractor.load(path, device)


def save_dff_extractor(net: DFFUNet, directory: str | Path, image_size: int,
                       extra: dict | None = None) -> Path:
    """Write ``dff.json`` and ``weights.pt`` into ``directory`` (created); returns it.

    ``extra`` (JSON-serialisable) is merged into the manifest, e.g. training settings.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in net.state_dict().items()}
    with atomic_path(directory / WEIGHTS) as tmp:
        torch.save(state, tmp)
    manifest = {**(extra or {}), "family": "dff", "format_version": FORMAT_VERSION,
                "image_size": int(image_size), **net.config(), "weights": WEIGHTS}
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2))
    return directory
