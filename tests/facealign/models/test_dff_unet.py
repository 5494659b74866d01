"""The DFF U-Net: one unit-length descriptor per input pixel, any input size, and skip
connections that carry fine detail."""

from __future__ import annotations

import pytest
import torch

from facealign.models.dff_unet import DFFUNet, normalize_images


@pytest.mark.parametrize("size", [(32, 32), (30, 45)])
def test_output_is_one_unit_descriptor_per_pixel(size):
    net = DFFUNet(dim=8, widths=(4, 8, 16)).eval()
    out = net(torch.randn(2, 3, *size))
    assert out.shape == (2, 8, *size)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, *size))


def test_descriptors_depend_on_the_image_and_gradients_reach_the_first_layer():
    torch.manual_seed(0)
    net = DFFUNet(dim=4, widths=(4, 8))
    x = torch.randn(2, 3, 16, 16)
    out = net(x)
    assert not torch.allclose(out[0], out[1])
    out[:, 0].sum().backward()
    assert net.encoders[0][0].weight.grad.abs().sum() > 0


def test_rejects_a_single_level_and_reports_its_config():
    with pytest.raises(ValueError):
        DFFUNet(dim=8, widths=(16,))
    net = DFFUNet(dim=8, widths=(4, 8, 16))
    assert net.config() == {"dim": 8, "widths": [4, 8, 16]}
    assert net.multiple == 4


def test_normalize_images_maps_uint8_hwc_to_centred_chw_floats():
    img = torch.tensor([[[[0, 128, 255]]]], dtype=torch.uint8)  # (1, 1, 1, 3)
    x = normalize_images(img)
    assert x.shape == (1, 3, 1, 1) and x.dtype == torch.float32
    assert x[0, 0, 0, 0] < -1.9 and abs(x[0, 1, 0, 0]) < 0.01 and x[0, 2, 0, 0] > 1.9
