"""The saved cascade: an aligner directory (``models/cascade``) and how to read it back.

Layout::

    aligner.json      {"family": "cascade", "format": 1, "stages": K, "input_size": S,
                       "crop_scale", "crop_shift", "net": {cascade.net section},
                       "weights": ["stage0.pt", ...], "stats": "stats.npz",
                       "face_model": "face_model.npz", ...training info (run id, NMEs)}
    stage<k>.pt       the state dict of Net_k (``torch.load(..., weights_only=True)``)
    stats.npz         ``params_mean/std`` (crop-frame parameter z-score; its mean is p_0)
                      and ``delta<k>_mean/std`` (z-score of stage k's updates)
    face_model.npz    a copy of the morphable model the parameters refer to

The directory is written beside its destination and renamed into place, so a killed
run never leaves a half-written aligner.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from facealign.manifest import read_file, write_manifest
from facealign.manifest import read_manifest as read_aligner_manifest
from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.param_stats import ZScore, load_stats, save_stats
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params
from faceio.atomic import atomic_directory

FORMAT = 1


@dataclass
class CascadeBundle:
    """Everything inference needs.

    Attributes:
        model: the morphable model.
        net: the ``cascade.net`` section (layer configuration).
        input_size: crop side S, pixels.
        crop_scale, crop_shift: see :func:`facealign.models.net_input.square_box`.
        param_stats: crop-frame parameter z-score; ``param_stats.mean`` is p_0.
        delta_stats: K z-scores of the stages' updates.
        weights: K state dicts of Net_0 .. Net_{K-1}.
        info: extra manifest fields (``mlflow_run_id``, ``val_nme``, ...).
    """

    model: MorphableModel
    net: dict[str, Any]
    input_size: int
    crop_scale: float
    crop_shift: float
    param_stats: ZScore
    delta_stats: list[ZScore]
    weights: list[dict[str, torch.Tensor]]
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def stages(self) -> int:
        return len(self.weights)

    def build_nets(self, device: str | torch.device = "cpu") -> list[CascadeNet]:
        """Net_0 .. Net_{K-1} with their weights, in eval mode on ``device``."""
        cfg = NetConfig.from_section(self.net)
        nets = []
        for state in self.weights:
            net = CascadeNet(cfg, self.input_size, n_params(self.model))
            net.load_state_dict(state)
            nets.append(net.to(device).eval())
        return nets


def save_bundle(bundle: CascadeBundle, directory: str | Path) -> Path:
    """Write ``bundle`` as an aligner directory (atomically replacing an old one)."""
    final = Path(directory)
    with atomic_directory(final) as tmp:
        weights = []
        for k, state in enumerate(bundle.weights):
            torch.save({name: t.detach().cpu() for name, t in state.items()}, tmp / f"stage{k}.pt")
            weights.append(f"stage{k}.pt")
        stats = {"params": bundle.param_stats, **{f"delta{k}": s for k, s in enumerate(bundle.delta_stats)}}
        save_stats(tmp / "stats.npz", stats)
        bundle.model.save(tmp / "face_model.npz")
        write_manifest(tmp, {
            **bundle.info, "family": "cascade", "format": FORMAT, "stages": bundle.stages,
            "input_size": bundle.input_size, "crop_scale": bundle.crop_scale, "crop_shift": bundle.crop_shift,
            "net": bundle.net, "weights": weights, "stats": "stats.npz", "face_model": "face_model.npz",
        })
    return final


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The cascade's ``aligner.json``; errors name the file and the field."""
    return read_aligner_manifest(
        directory, "cascade",
        required=("stages", "input_size", "crop_scale", "crop_shift", "net", "weights", "stats",
                  "face_model"),
        hint="; train one with `facealign train-cascade` or `dvc repro train_cascade`")


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A stage's weights: tensors only (``weights_only=True``: nothing else is unpickled)."""
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError("not a state dict of tensors")
    return state


def load_bundle(directory: str | Path) -> CascadeBundle:
    """Read an aligner directory written by :func:`save_bundle`; a missing, damaged or
    tampered file is an :class:`~facealign.manifest.AlignerFileError` naming it."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    k = int(manifest["stages"])
    names = ["params", *[f"delta{i}" for i in range(k)]]
    stats = read_file(directory / manifest["stats"], lambda p: load_stats(p, names),
                      "normalisation statistics")
    weights = [read_file(directory / name, _load_state_dict, "stage weights") for name in manifest["weights"]]
    known = {"family", "format", "stages", "input_size", "crop_scale", "crop_shift", "net", "weights",
             "stats", "face_model"}
    return CascadeBundle(
        model=read_file(directory / manifest["face_model"], MorphableModel.load, "face model"),
        net=manifest["net"],
        input_size=int(manifest["input_size"]), crop_scale=float(manifest["crop_scale"]),
        crop_shift=float(manifest["crop_shift"]), param_stats=stats["params"],
        delta_stats=[stats[f"delta{i}"] for i in range(k)], weights=weights,
        info={key: v for key, v in manifest.items() if key not in known},
    )
