"""The Deep Face Feature (DFF) network: a U-Net mapping an image to unit per-pixel descriptors.

The encoder is a stack of levels, each two 3x3 convolutions (batch norm, ReLU) followed
by a 2x2 max-pool; the decoder mirrors it with 2x2 transposed convolutions ("de-convolutions")
that double the resolution, concatenates the encoder feature map of the same level (the
skip connection) and applies two 3x3 convolutions.  A 1x1 convolution maps the finest
decoder level to ``dim`` channels, which are L2-normalised per pixel.

Input: (B, 3, H, W) float images, normalised by :func:`normalize_images`.
Output: (B, dim, H, W) float descriptors of unit length along the channel axis.
H and W need not be multiples of ``2**(levels-1)``: the input is zero-padded at the
bottom / right and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Mean / std of uint8 RGB values mapped to roughly unit range (per channel, all 0.5 / 0.25).
_PIXEL_MEAN = 127.5
_PIXEL_STD = 64.0


def normalize_images(images_uint8: torch.Tensor) -> torch.Tensor:
    """(B, H, W, 3) uint8 RGB -> (B, 3, H, W) float32 network input, about zero mean, unit std."""
    x = images_uint8.permute(0, 3, 1, 2).float()
    return (x - _PIXEL_MEAN) / _PIXEL_STD


def normalize_images_numpy(images_uint8: np.ndarray) -> np.ndarray:
    """:func:`normalize_images` on numpy arrays (equal to the last bit): (B, H, W, 3) uint8 ->
    (B, 3, H, W) float32, for runtimes other than torch."""
    x = np.asarray(images_uint8).transpose(0, 3, 1, 2).astype(np.float32)
    return (x - np.float32(_PIXEL_MEAN)) / np.float32(_PIXEL_STD)


class _DoubleConv(nn.Sequential):
    """Two 3x3 convolutions with batch norm and ReLU, (B, c_in, H, W) -> (B, c_out, H, W)."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True),
        )


class DFFUNet(nn.Module):
    """Symmetric U-Net with skip concatenation and an L2-normalised ``dim``-channel head.

    Args:
        dim: descriptor length (the paper: 32).
        widths: channels per level from the finest to the bottleneck, e.g. ``(64, 128, 256, 512,
            1024)`` for the classic U-Net; ``len(widths)`` levels, ``len(widths) - 1`` poolings.
        in_channels: image channels (3 for RGB).
    """

    def __init__(self, dim: int = 32, widths: Sequence[int] = (64, 128, 256, 512, 1024),
                 in_channels: int = 3) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) < 2 or min(widths) < 1 or dim < 1:
            raise ValueError(f"DFFUNet needs >= 2 positive widths and dim >= 1, got {widths}, {dim}")
        self.dim = int(dim)
        self.widths = tuple(widths)
        self.encoders = nn.ModuleList()
        c_in = in_channels
        for w in widths:
            self.encoders.append(_DoubleConv(c_in, w))
            c_in = w
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for coarse, fine in zip(widths[:0:-1], widths[-2::-1], strict=True):
            self.ups.append(nn.ConvTranspose2d(coarse, fine, kernel_size=2, stride=2))
            self.decoders.append(_DoubleConv(2 * fine, fine))
        self.head = nn.Conv2d(widths[0], dim, kernel_size=1)

    @property
    def multiple(self) -> int:
        """Input sizes are padded to a multiple of this many pixels."""
        return 2 ** (len(self.widths) - 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) normalised images -> (B, dim, H, W) unit descriptors."""
        h, w = x.shape[-2:]
        m = self.multiple
        pad_h, pad_w = (-h) % m, (-w) % m
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        skips = []
        for level, encoder in enumerate(self.encoders):
            if level:
                x = F.max_pool2d(x, 2)
            x = encoder(x)
            skips.append(x)
        skips.pop()  # the bottleneck is x itself
        for up, decoder in zip(self.ups, self.decoders, strict=True):
            x = decoder(torch.cat([skips.pop(), up(x)], dim=1))
        out = self.head(x)[..., :h, :w]
        return F.normalize(out, dim=1)

    def config(self) -> dict:
        """The constructor arguments, for the ``dff.json`` manifest."""
        return {"dim": self.dim, "widths": list(self.widths)}
