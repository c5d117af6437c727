"""Networks: DCGAN shapes at every supported resolution, normalisation options, conditioning."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from models import networks

IMAGE_SHAPES = [(1, 8, 8), (1, 28, 28), (3, 32, 32), (3, 64, 64)]


@pytest.mark.parametrize("size, expected", [(8, (1, 4)), (28, (2, 7)), (32, (3, 4)), (64, (4, 4)), (7, (0, 7))])
def test_dcgan_levels(size, expected):
    assert networks.dcgan_levels(size) == expected


def test_dcgan_levels_rejects_unsupported_size():
    with pytest.raises(ValueError, match="base"):
        networks.dcgan_levels(100)


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("num_classes", [0, 10])
def test_dcgan_generator_and_discriminator_shapes(shape, num_classes):
    torch.manual_seed(0)
    g = networks.dcgan_generator(shape, z_dim=16, width=8, num_classes=num_classes)
    d = networks.dcgan_discriminator(shape, width=8, norm="none", num_classes=num_classes)
    y = torch.randint(10, (3,)) if num_classes else None
    x = g(torch.randn(3, 16), y)
    assert x.shape == (3, *shape)
    assert x.abs().max() <= 1.0                                   # tanh output, the data's [-1, 1] range
    score, features = d(x, y)
    assert score.shape == (3,) and features.dim() == 2 and features.shape[0] == 3
    assert torch.isfinite(score).all()


@pytest.mark.parametrize("shape", IMAGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dcgan_generator_upsamples_with_transposed_convolutions(shape):
    g = networks.dcgan_generator(shape, z_dim=8, width=4)
    k, _ = networks.dcgan_levels(shape[1])
    convt = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(convt) == k and all(m.stride == (2, 2) for m in convt)
    assert any(isinstance(m, nn.BatchNorm2d) for m in g.modules())   # batch norm in G


@pytest.mark.parametrize("norm, layer_type", [("batch", nn.BatchNorm2d), ("layer", nn.GroupNorm)])
def test_dcgan_discriminator_normalisation_layers(norm, layer_type):
    d = networks.dcgan_discriminator((3, 32, 32), width=4, norm=norm)
    norms = [m for m in d.modules() if isinstance(m, layer_type)]
    assert len(norms) == 2                                       # 3 strided convs, none after the first
    other = nn.GroupNorm if layer_type is nn.BatchNorm2d else nn.BatchNorm2d
    assert not any(isinstance(m, other) for m in d.modules())
    if norm == "layer":
        assert all(m.num_groups == 1 for m in norms)             # GroupNorm(1, C) = layer norm over (C, H, W)


def test_layer_norm_discriminator_scores_each_sample_independently():
    # what WGAN-GP needs: a sample's score must not depend on the rest of the batch
    torch.manual_seed(0)
    d = networks.dcgan_discriminator((1, 28, 28), width=4, norm="layer")
    x = torch.randn(5, 1, 28, 28)
    alone = torch.stack([d(x[i:i + 1])[0][0] for i in range(5)])
    torch.testing.assert_close(d(x)[0], alone, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("build", [
    lambda: networks.dcgan_discriminator((1, 28, 28), width=4, norm="spectral", num_classes=3),
    lambda: networks.mlp_discriminator((2,), 16, 2, "tanh", norm="spectral", num_classes=3),
], ids=["dcgan", "mlp"])
def test_spectral_norm_bounds_every_weight_matrix(build):
    torch.manual_seed(0)
    d = build()
    d.train()
    for _ in range(30):                                          # power iteration converges during forwards
        d(torch.randn(4, *((1, 28, 28) if isinstance(d.body[0], nn.Conv2d) else (2,))), torch.randint(3, (4,)))
    d.eval()
    parametrized = [m for m in d.modules() if hasattr(m, "parametrizations")]
    assert len(parametrized) >= 3                                # every conv/linear of the body + the head
    for m in parametrized:
        w = m.weight.detach().flatten(1) if not isinstance(m, nn.Embedding) else m.weight.detach()
        assert torch.linalg.matrix_norm(w, ord=2) <= 1.05


def test_conditional_generator_needs_labels_and_uses_them():
    torch.manual_seed(0)
    g = networks.dcgan_generator((1, 8, 8), z_dim=8, width=4, num_classes=3).eval()
    z = torch.randn(2, 8)
    with pytest.raises(ValueError, match="labels"):
        g(z)
    assert not torch.allclose(g(z, torch.tensor([0, 0])), g(z, torch.tensor([1, 1])))


def test_projection_term_depends_on_the_label():
    torch.manual_seed(0)
    d = networks.mlp_discriminator((2,), 8, 1, "tanh", num_classes=3)
    x = torch.randn(4, 2)
    s0, f = d(x, torch.zeros(4, dtype=torch.long))
    s1, _ = d(x, torch.ones(4, dtype=torch.long))
    # score = linear(φ(x)) + ⟨embed(y), φ(x)⟩, so the difference between two labels is ⟨e1 - e0, φ(x)⟩
    e = d.head.embed.weight
    torch.testing.assert_close(s1 - s0, f @ (e[1] - e[0]))
