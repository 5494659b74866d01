"""The DFF Lightning module: descriptors of sampled pixels feed S angular-softmax heads; the
loss drops when fitting a batch, and a non-finite loss stops training with a clear error."""

from __future__ import annotations

import pytest
import torch

from lightning_modules.dff_module import DFFModule, NonFiniteLossError


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def batch(b: int = 2, size: int = 16, k: int = 24, s: int = 3, p: int = 6) -> dict[str, torch.Tensor]:
    """Images whose left half is dark and right half bright; label = which half, in every head."""
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(b, size, size, 3, dtype=torch.uint8)
    images[:, :, size // 2 :] = 200
    images += torch.randint(0, 30, images.shape, generator=g, dtype=torch.uint8)
    pixels = torch.randint(0, size * size, (b, k), generator=g)
    right = (pixels % size >= size // 2).long()
    labels = right[:, None, :].expand(b, s, k) * torch.arange(1, s + 1)[None, :, None] % p
    return {"image": images, "pixels": pixels, "labels": labels.contiguous(),
            "valid": torch.ones(b, k, dtype=torch.bool)}


def test_forward_gives_unit_descriptors_per_pixel() -> None:
    module = DFFModule(n_segmentations=3, n_patches=6, dim=8, widths=(4, 8)).eval()
    out = module(batch()["image"])
    assert out.shape == (2, 8, 16, 16)
    torch.testing.assert_close(out.norm(dim=1), torch.ones(2, 16, 16))


def test_fitting_one_batch_lowers_the_loss(one_thread) -> None:
    torch.manual_seed(0)
    module = DFFModule(n_segmentations=3, n_patches=6, dim=8, widths=(4, 8), scale=8.0)
    opt = torch.optim.Adam(module.parameters(), lr=1e-2)
    data = batch()
    losses = []
    for _ in range(25):
        loss = module.training_step(data, 0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]
    feats, labels = module._sampled(data)
    assert module.heads.accuracy(feats.reshape(-1, 8), labels.reshape(3, -1)).min() > 0.9


def test_a_nan_loss_raises_a_clear_error() -> None:
    module = DFFModule(n_segmentations=2, n_patches=4, dim=4, widths=(4, 8))
    with torch.no_grad():
        module.heads.weight.fill_(float("nan"))
    data = batch(s=2, p=4)
    with pytest.raises(NonFiniteLossError, match="dff.train.lr"):
        module.training_step(data, 0)
