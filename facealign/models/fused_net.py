"""Inference copies of networks with every batch norm folded into the layer before it.

In eval mode a :class:`torch.nn.BatchNorm2d` after a convolution is an affine map per
channel, ``y = (x - mean) * gamma / sqrt(var + eps) + beta``, so it can be merged into that
layer's weights and bias.  :func:`fold_batch_norm` does so for every ``Conv2d`` or
:class:`facealign.models.cascade_net.LocallyConnected2d` directly followed by a
``BatchNorm2d`` inside an ``nn.Sequential`` (the cascade's streams, the DFF U-Net's double
convolutions) and replaces the batch norm with an identity: one layer less per block at
inference, outputs equal up to float32 rounding (about 1e-6 relative).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from facealign.models.cascade_net import LocallyConnected2d


def _bn_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) per channel of an eval-mode batch norm, float64."""
    var, mean = bn.running_var.double(), bn.running_mean.double()
    gamma = bn.weight.double() if bn.weight is not None else torch.ones_like(var)
    beta = bn.bias.double() if bn.bias is not None else torch.zeros_like(var)
    scale = gamma / torch.sqrt(var + bn.eps)
    return scale, beta - mean * scale


@torch.no_grad()
def _fold(layer: nn.Module, bn: nn.BatchNorm2d) -> None:
    """Merge ``bn`` into ``layer`` (in place); ``layer`` gains a bias when it had none."""
    scale, shift = _bn_affine(bn)
    weight = layer.weight.double()
    if isinstance(layer, nn.Conv2d):  # weight (C_out, C_in, k, k), bias (C_out,)
        layer.weight.copy_(weight * scale[:, None, None, None])
        bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(scale)
        new_bias = bias * scale + shift
    else:  # LocallyConnected2d: weight (L, fan_in, C_out), bias (C_out, H, W)
        layer.weight.copy_(weight * scale)
        bias = layer.bias.double() if layer.bias is not None else torch.zeros(
            len(scale), *layer.out_size, dtype=torch.float64)
        new_bias = bias * scale[:, None, None] + shift[:, None, None]
    layer.bias = nn.Parameter(new_bias.to(layer.weight.dtype), requires_grad=False)


def fold_batch_norm(net: nn.Module) -> nn.Module:
    """An eval-mode deep copy of ``net`` with its batch norms folded (see the module docstring).

    ``net`` itself is left unchanged.  Batch norms not directly after a convolution stay.
    """
    fused = copy.deepcopy(net).eval()
    for module in fused.modules():
        if not isinstance(module, nn.Sequential):
            continue
        names = list(module._modules)
        for prev, name in zip(names, names[1:], strict=False):
            layer, bn = module._modules[prev], module._modules[name]
            if isinstance(bn, nn.BatchNorm2d) and isinstance(layer, nn.Conv2d | LocallyConnected2d) \
                    and bn.track_running_stats and bn.running_var is not None:
                _fold(layer, bn)
                module._modules[name] = nn.Identity()
    for p in fused.parameters():
        p.requires_grad_(False)
    return fused
