"""Tiny trained-looking networks for inference tests: a cascade bundle and a DFF-SDM directory.

"Trained-looking": batch norms carry non-trivial running statistics (so folding them
matters) and the updates are large enough to move the landmarks by pixels, so that
comparisons between runtimes or code paths mean something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from facealign.aligners.sdm import save_sdm_aligner
from facealign.models.cascade_bundle import CascadeBundle
from facealign.models.cascade_net import CascadeNet, NetConfig
from facealign.models.dff_extractor import save_dff_extractor
from facealign.models.dff_unet import DFFUNet
from facealign.models.net_input import square_box
from facealign.models.param_stats import ZScore
from facealign.sdm.landmark_set import landmark_vertices
from facealign.sdm.regression import Cascade, DescentMap
from facealign.sdm.settings import SDMSettings
from facegeom.morphable_model import MorphableModel
from facegeom.parameters import n_params, to_crop

CASCADE_SIZE = 32
CASCADE_NET = {"image_stream": [{"type": "conv", "out": 6, "kernel": 5, "stride": 2, "pool": True},
                                {"type": "local", "out": 6, "kernel": 3, "pool": True}],
               "pncc_stream": [{"type": "conv", "out": 4, "kernel": 5, "stride": 2, "pool": True},
                               {"type": "local", "out": 4, "kernel": 3}],
               "feature_dim": 24}


def randomize_batch_norms(net: torch.nn.Module, seed: int) -> None:
    """Give every batch norm of ``net`` random running statistics and affine parameters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for bn in (m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)):
            bn.running_mean.copy_(torch.randn(bn.num_features, generator=gen) * 0.3)
            bn.running_var.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
            bn.weight.copy_(torch.rand(bn.num_features, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(bn.num_features, generator=gen) * 0.1)


def cascade_bundle(model: MorphableModel, boxes: np.ndarray, params: np.ndarray,
                   stages: int = 3) -> CascadeBundle:
    """A ``stages``-stage cascade at 32 px whose statistics come from ``params`` (B, P) in the
    frame of the images with face ``boxes`` (B, 4)."""
    crop = to_crop(params, square_box(boxes, 1.4, 0.1), CASCADE_SIZE)
    stats = ZScore.fit(np.concatenate([crop, crop * 1.05]))
    gen = torch.Generator().manual_seed(1)
    weights = []
    for k in range(stages):
        net = CascadeNet(NetConfig.from_section(CASCADE_NET), CASCADE_SIZE, n_params(model))
        randomize_batch_norms(net, seed=10 + k)
        torch.nn.init.normal_(net.fc2.weight, std=0.05, generator=gen)
        weights.append(net.state_dict())
    delta = ZScore(np.zeros(n_params(model), np.float32), stats.std * 1.0)
    return CascadeBundle(model, CASCADE_NET, CASCADE_SIZE, 1.4, 0.1, stats, [delta] * stages, weights,
                         {"mlflow_run_id": None})


def dff_sdm_directory(directory: Path, model: MorphableModel, image_size: int = 32) -> Path:
    """A saved DFF-SDM (two iterations, random small descent maps, a 3-level U-Net of dim 8)."""
    torch.manual_seed(0)
    settings = SDMSettings(n_landmarks=70, iterations=2, n_id=2, n_exp=1)
    ids = landmark_vertices(model, 70)
    net = DFFUNet(dim=8, widths=(4, 8, 16))
    randomize_batch_norms(net, seed=3)
    rng = np.random.default_rng(0)
    n_out = 2 * len(ids) + 6
    maps = tuple(DescentMap((0.5 * rng.normal(size=(len(ids) * 8, n_out))).astype(np.float32),
                            np.zeros(n_out)) for _ in range(2))
    save_sdm_aligner(directory, model, ids, Cascade(maps), "dff", settings)
    save_dff_extractor(net, directory / "extractor", image_size=image_size)
    return directory
