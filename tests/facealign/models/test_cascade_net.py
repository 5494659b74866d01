"""The cascade's network: a truncated AlexNet with a parallel PNCC stream."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from facealign.config import load_params
from facealign.models.cascade_net import CascadeNet, LocallyConnected2d, NetConfig

PARAMS = Path(__file__).resolve().parents[3] / "params.yaml"


def test_locally_connected_with_tied_weights_is_a_convolution():
    torch.manual_seed(0)
    layer = LocallyConnected2d(3, 5, (9, 9), kernel=3, stride=2, padding=1)
    conv_w = torch.randn(5, 3, 3, 3)
    with torch.no_grad():
        layer.weight.copy_(conv_w.reshape(5, -1).T[None].expand_as(layer.weight))
        layer.bias.zero_()
    x = torch.randn(2, 3, 9, 9)
    assert layer.out_size == (5, 5)
    torch.testing.assert_close(layer(x), F.conv2d(x, conv_w, stride=2, padding=1), atol=1e-5, rtol=1e-5)


def test_locally_connected_weights_are_position_specific():
    torch.manual_seed(0)
    layer = LocallyConnected2d(2, 4, (6, 6), kernel=3, padding=1)
    x = torch.randn(1, 2, 6, 6)
    before = layer(x).detach()
    with torch.no_grad():
        layer.weight[7] += 1.0  # output position 7 = row 1, column 1
    changed = (layer(x).detach() - before).abs().sum(1)[0] > 0
    assert changed[1, 1] and changed.sum() == 1


def test_paper_preset_has_the_papers_layer_counts():
    cfg = load_params(PARAMS, preset="paper")
    net_cfg = NetConfig.from_section(cfg["cascade"]["net"])
    assert net_cfg.counts() == {"conv": 8, "local": 3, "pool": 7, "fc": 2}
    assert [s.type for s in net_cfg.image_stream] == ["conv", "conv", "local", "local", "local"]
    assert net_cfg.feature_dim == 256 and cfg["cascade"]["input_size"] == 100


@pytest.mark.parametrize("preset", ["default", "paper"])
def test_network_maps_image_and_pncc_to_one_update_per_parameter(preset):
    cfg = load_params(PARAMS, preset=preset)["cascade"]
    net = CascadeNet(NetConfig.from_section(cfg["net"]), cfg["input_size"], n_params=234)
    out = net(torch.rand(2, 6, cfg["input_size"], cfg["input_size"]) - 0.5)
    assert out.shape == (2, 234) and torch.isfinite(out).all()


def test_default_network_is_a_cheap_cpu_variant():
    cfg = load_params(PARAMS)["cascade"]
    net = CascadeNet(NetConfig.from_section(cfg["net"]), cfg["input_size"], n_params=234)
    assert sum(p.numel() for p in net.parameters()) < 3_000_000


def test_empty_pncc_stream_stacks_all_six_channels_into_one_stream():
    cfg = NetConfig.from_section({"image_stream": [{"type": "conv", "out": 4, "pool": True},
                                                   {"type": "local", "out": 4}], "pncc_stream": []})
    net = CascadeNet(cfg, 16, n_params=10)
    assert net.image_stream[0].in_channels == 6
    assert net(torch.zeros(3, 6, 16, 16)).shape == (3, 10)


def test_the_pncc_reaches_the_output():
    torch.manual_seed(0)
    cfg = load_params(PARAMS)["cascade"]
    net = CascadeNet(NetConfig.from_section(cfg["net"]), cfg["input_size"], n_params=20).eval()
    torch.nn.init.normal_(net.fc2.weight)
    x = torch.rand(1, 6, cfg["input_size"], cfg["input_size"])
    y = x.clone()
    y[:, 3:] = torch.rand_like(y[:, 3:])
    assert not torch.allclose(net(x), net(y))


def test_bad_configuration_and_input_are_refused():
    with pytest.raises(ValueError, match="type"):
        NetConfig.from_section({"image_stream": [{"type": "dense", "out": 4}]})
    with pytest.raises(ValueError, match="unknown"):
        NetConfig.from_section({"image_stream": [{"type": "conv", "out": 4}], "widths": [1]})
    with pytest.raises(ValueError, match="too small"):
        LocallyConnected2d(4, 4, (2, 2), kernel=5)
    net = CascadeNet(NetConfig.from_section({"image_stream": [{"type": "conv", "out": 4}]}), 8, 10)
    with pytest.raises(ValueError, match=r"\(B, 6, 8, 8\)"):
        net(torch.zeros(1, 3, 8, 8))
