"""Multi-head angular softmax (m = 1): cosine logits with a scale, per-image averaging over
valid pixels, summed over heads."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from facealign.models.angular_softmax import MultiHeadAngularSoftmax


@pytest.fixture
def one_thread():
    """Tiny tensors train faster on one thread (and do not stall on a busy machine)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_logits_are_scaled_cosines_to_unit_class_vectors():
    head = MultiHeadAngularSoftmax(n_heads=2, n_classes=3, dim=4, scale=10.0)
    with torch.no_grad():
        head.weight.mul_(torch.tensor([5.0, 0.1])[:, None, None])  # norms must not matter
    f = F.normalize(torch.randn(5, 4), dim=-1)
    cos = head.cosines(f)
    assert cos.shape == (2, 5, 3)
    expected = torch.einsum("nd,spd->snp", f, F.normalize(head.weight, dim=-1))
    torch.testing.assert_close(cos, expected)
    assert cos.abs().max() <= 1 + 1e-6


def test_loss_sums_heads_of_per_image_mean_cross_entropy():
    torch.manual_seed(0)
    head = MultiHeadAngularSoftmax(n_heads=3, n_classes=4, dim=6, scale=8.0)
    feats = F.normalize(torch.randn(2, 5, 6), dim=-1)
    labels = torch.randint(0, 4, (3, 2, 5))
    loss = head(feats, labels)
    manual = sum(F.cross_entropy(8.0 * head.cosines(feats)[s].reshape(-1, 4), labels[s].reshape(-1))
                 for s in range(3))
    torch.testing.assert_close(loss, manual)


def test_invalid_pixels_are_ignored_and_each_image_weighs_the_same():
    torch.manual_seed(1)
    head = MultiHeadAngularSoftmax(n_heads=1, n_classes=4, dim=3, scale=5.0)
    feats = F.normalize(torch.randn(2, 4, 3), dim=-1)
    labels = torch.randint(0, 4, (1, 2, 4))
    valid = torch.tensor([[True, True, True, True], [True, False, False, False]])
    ce = F.cross_entropy(5.0 * head.cosines(feats)[0].reshape(-1, 4), labels[0].reshape(-1),
                         reduction="none").view(2, 4)
    expected = 0.5 * (ce[0].mean() + ce[1, 0])
    torch.testing.assert_close(head(feats, labels, valid), expected)
    garbage = labels.clone()
    garbage[0, 1, 1:] = (garbage[0, 1, 1:] + 1) % 4
    torch.testing.assert_close(head(feats, garbage, valid), expected)


def test_an_image_without_face_pixels_contributes_nothing():
    head = MultiHeadAngularSoftmax(n_heads=1, n_classes=4, dim=3)
    feats = F.normalize(torch.randn(2, 4, 3), dim=-1)
    labels = torch.randint(0, 4, (1, 2, 4))
    valid = torch.tensor([[True] * 4, [False] * 4])
    torch.testing.assert_close(head(feats, labels, valid), head(feats[:1], labels[:, :1]))


def test_training_pulls_descriptors_towards_their_class_vectors(one_thread):
    torch.manual_seed(2)
    head = MultiHeadAngularSoftmax(n_heads=2, n_classes=5, dim=8, scale=16.0)
    raw = torch.randn(1, 40, 8, requires_grad=True)
    labels = torch.randint(0, 5, (2, 1, 40))
    opt = torch.optim.Adam([raw, head.weight], lr=0.1)
    first = None
    for _ in range(60):
        loss = head(F.normalize(raw, dim=-1), labels)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.3 * first
    assert head.accuracy(F.normalize(raw, dim=-1), labels).min() > 0.9


def test_label_shape_mismatch_is_an_error():
    head = MultiHeadAngularSoftmax(n_heads=2, n_classes=3, dim=4)
    with pytest.raises(ValueError, match="labels"):
        head(torch.randn(1, 5, 4), torch.zeros(1, 1, 5, dtype=torch.long))


def test_geometric_class_vectors_agree_across_heads_and_follow_the_surface():
    from facealign.models.angular_softmax import geometric_class_vectors

    x = np.linspace(0, 100, 200)
    centroids = np.stack([x, np.zeros_like(x), np.zeros_like(x)], axis=1)  # a 1D "surface"
    lut = np.stack([np.arange(200) // 20, (np.arange(200) + 10) // 20 % 10])  # two offset tilings
    vec = geometric_class_vectors(centroids, np.ones(200), lut, 10, dim=16, bandwidth=0.3)
    assert vec.shape == (2, 10, 16)
    np.testing.assert_allclose(np.linalg.norm(vec, axis=-1), 1.0, rtol=1e-5)
    near, far = vec[0, 2] @ vec[0, 3], vec[0, 2] @ vec[0, 8]
    assert near > far
    same_place = vec[0, 5] @ vec[1, 5]  # head 1's patch 5 overlaps head 0's patch 5 by half
    assert same_place > 0.9
    with pytest.raises(ValueError, match="even"):
        geometric_class_vectors(centroids, np.ones(200), lut, 10, dim=15, bandwidth=0.3)
