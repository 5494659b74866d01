"""The per-stage regressor of the cascade: a truncated AlexNet with a parallel PNCC stream.

Input: (B, 6, S, S) float32, channels 0..2 the colour face crop, 3..5 the PNCC map
rendered from the current estimate p_k (both in [-0.5, 0.5]).  The image and the PNCC
pass through parallel convolution-pooling streams whose flattened outputs are
concatenated and fed to two fully connected layers: a ``feature_dim`` feature (256 in the
paper), then the normalised parameter update (6 + K_id + K_exp values).

Each stream is a list of layer specs ``{type: conv | local, out, kernel, stride, pool}``:
``conv`` layers share weights across positions, ``local`` layers
(:class:`LocallyConnected2d`) do not, as 3DDFA's position-sensitive layers.  The paper's
variant has eight convolution layers (five in the image stream: two ``conv`` then three
``local``; three in the PNCC stream) and seven pooling layers; the counts, widths and
which layers are locally connected all come from configuration.  An empty PNCC stream
gives 3DDFA's stacked input (all six channels through the image stream).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from facealign.config import AT_LEAST_ONE, FRACTION, Range, section_fields

LAYER_TYPES = ("conv", "local")


class LocallyConnected2d(nn.Module):
    """A convolution without weight sharing: every output position has its own filter.

    Args:
        in_channels, out_channels: channel counts.
        in_size: (H, W) of the input, pixels (the weights depend on it).
        kernel, stride, padding: as :class:`torch.nn.Conv2d` (square, zero padding).
    Shapes: (B, C_in, H, W) -> (B, C_out, H_out, W_out) with
    ``H_out = (H + 2 * padding - kernel) // stride + 1``.
    Parameters: ``weight`` (H_out * W_out, C_in * kernel^2, C_out), ``bias`` (C_out, H_out, W_out).
    """

    def __init__(self, in_channels: int, out_channels: int, in_size: tuple[int, int], kernel: int,
                 stride: int = 1, padding: int = 0, bias: bool = True) -> None:
        super().__init__()
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.out_size = tuple((s + 2 * padding - kernel) // stride + 1 for s in in_size)
        if min(self.out_size) < 1:
            raise ValueError(f"locally connected layer: input {in_size} too small for kernel {kernel}")
        fan_in = in_channels * kernel * kernel
        n_pos = self.out_size[0] * self.out_size[1]
        self.weight = nn.Parameter(torch.randn(n_pos, fan_in, out_channels) * math.sqrt(2.0 / fan_in))
        self.bias = nn.Parameter(torch.zeros(out_channels, *self.out_size)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        cols = F.unfold(x, self.kernel, padding=self.padding, stride=self.stride)  # (B, fan_in, L)
        # contiguous (L, B, fan_in): a strided left operand sends bmm down a per-matrix slow path
        out = torch.bmm(cols.permute(2, 0, 1).contiguous(), self.weight)  # (L, B, C_out)
        out = out.permute(1, 2, 0).reshape(x.shape[0], -1, *self.out_size)
        return out if self.bias is None else out + self.bias

    def extra_repr(self) -> str:
        return (f"in_fan={self.weight.shape[1]}, out_channels={self.weight.shape[2]}, "
                f"out_size={self.out_size}, kernel={self.kernel}, stride={self.stride}")


@dataclass(frozen=True)
class LayerSpec:
    """One convolution layer of a stream; ``pool`` adds a max pooling after it."""

    type: str
    out: int
    kernel: int = 3
    stride: int = 1
    pool: bool = False

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> LayerSpec:
        unknown = set(spec) - set(cls.__dataclass_fields__)
        if unknown or spec.get("type") not in LAYER_TYPES:
            raise ValueError(f"layer spec {spec!r}: needs type in {LAYER_TYPES}, "
                             f"keys from {list(cls.__dataclass_fields__)}")
        return cls(**spec)


@dataclass(frozen=True)
class NetConfig:
    """The ``cascade.net`` section of ``params.yaml``."""

    image_stream: tuple[LayerSpec, ...]
    pncc_stream: tuple[LayerSpec, ...] = ()
    feature_dim: int = 256
    batch_norm: bool = True
    dropout: float = 0.0
    pool_kernel: int = 2
    pool_stride: int = 2
    stacked_input: bool = False

    LIMITS: ClassVar[dict[str, Range]] = {"feature_dim": AT_LEAST_ONE, "dropout": FRACTION,
                                          "pool_kernel": AT_LEAST_ONE, "pool_stride": AT_LEAST_ONE}

    @classmethod
    def from_section(cls, section: dict[str, Any]) -> NetConfig:
        """From ``cfg["cascade"]["net"]``; an unknown key is a :class:`ConfigError` naming it."""
        known = section_fields(cls, section, "cascade.net")
        for key in ("image_stream", "pncc_stream"):
            known[key] = tuple(LayerSpec.from_dict(dict(s)) for s in known.get(key) or ())
        if not known.get("image_stream"):
            raise ValueError("cascade.net.image_stream needs at least one layer")
        return cls(**known)

    def counts(self) -> dict[str, int]:
        """Convolution / locally connected / pooling / fully connected layer counts."""
        layers = self.image_stream + self.pncc_stream
        return {"conv": len(layers), "local": sum(s.type == "local" for s in layers),
                "pool": sum(s.pool for s in layers), "fc": 2}


def _stream(specs: tuple[LayerSpec, ...], in_channels: int, size: int, cfg: NetConfig
            ) -> tuple[nn.Sequential, int]:
    """Build one stream; returns it and its flattened output size."""
    layers: list[nn.Module] = []
    channels, hw = in_channels, (size, size)
    for spec in specs:
        pad = spec.kernel // 2
        if spec.type == "conv":
            conv = nn.Conv2d(channels, spec.out, spec.kernel, spec.stride, pad, bias=not cfg.batch_norm)
            layers.append(conv)
            hw = tuple((s + 2 * pad - spec.kernel) // spec.stride + 1 for s in hw)
        else:
            local = LocallyConnected2d(channels, spec.out, hw, spec.kernel, spec.stride, pad)
            layers.append(local)
            hw = local.out_size
        if cfg.batch_norm:
            layers.append(nn.BatchNorm2d(spec.out))
        layers.append(nn.ReLU(inplace=True))
        if spec.pool:
            layers.append(nn.MaxPool2d(cfg.pool_kernel, cfg.pool_stride, ceil_mode=True))
            hw = tuple(math.ceil((s - cfg.pool_kernel) / cfg.pool_stride) + 1 for s in hw)
        if min(hw) < 1:
            raise ValueError(f"cascade.net: input {size} px shrinks to nothing; use fewer pools or strides")
        channels = spec.out
    return nn.Sequential(*layers), channels * hw[0] * hw[1]


class CascadeNet(nn.Module):
    """Net_k: (B, 6, S, S) image + PNCC -> (B, n_params) normalised parameter update.

    Args:
        cfg: the layer configuration.
        input_size: S, the side of the square input in pixels.
        n_params: 6 + K_id + K_exp of the loaded face model.
    """

    def __init__(self, cfg: NetConfig, input_size: int, n_params: int) -> None:
        super().__init__()
        self.cfg, self.input_size, self.n_params = cfg, input_size, n_params
        stacked = cfg.stacked_input or not cfg.pncc_stream
        self.image_stream, n_image = _stream(cfg.image_stream, 6 if stacked else 3, input_size, cfg)
        self.pncc_stream, n_pncc = (nn.Sequential(), 0) if not cfg.pncc_stream else _stream(
            cfg.pncc_stream, 3, input_size, cfg)
        self.fc1 = nn.Linear(n_image + n_pncc, cfg.feature_dim)
        self.dropout = nn.Dropout(cfg.dropout)
        self.fc2 = nn.Linear(cfg.feature_dim, n_params)
        self.reset_head()

    def reset_head(self) -> None:
        """Re-initialise the output layer so that the net starts near the mean update."""
        nn.init.normal_(self.fc2.weight, std=1e-3)
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1:] != (6, self.input_size, self.input_size):
            size = self.input_size
            raise ValueError(f"CascadeNet expects (B, 6, {size}, {size}), got {tuple(x.shape)}")
        if self.cfg.pncc_stream:
            image = x if self.cfg.stacked_input else x[:, :3]
            feats = [self.image_stream(image).flatten(1), self.pncc_stream(x[:, 3:]).flatten(1)]
            feat = torch.cat(feats, 1)
        else:
            feat = self.image_stream(x).flatten(1)
        return self.fc2(self.dropout(F.relu(self.fc1(feat))))
