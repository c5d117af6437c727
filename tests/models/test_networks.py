"""Networks: DCGAN shapes at every supported resolution, normalisation options, conditioning."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import models.variants  # noqa: F401  fills the registry
from models import networks
from models.config import ConfigError
from models.registry import VARIANTS, get_variant

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


PAPER_SHAPES = [(1, 28, 28), (3, 32, 32), (3, 64, 64)]


@pytest.mark.parametrize("shape", PAPER_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dcgan_is_radford_et_al_network(shape):
    # Radford et al. 2016 §3-4: BN in G and D except G's output and D's input layer, ReLU in G (tanh out),
    # LeakyReLU 0.2 in D, strided (transposed) convolutions and no pooling, z of 100 dimensions
    torch.manual_seed(0)
    model = get_variant("nsgan")(data_shape=shape, data_kind="image", arch="dcgan")
    assert model.cfg.z_dim == 100 and model.cfg.d_norm == "batch"
    g, d = list(model.generator.body), list(model.discriminators[0].body)
    k, _ = networks.dcgan_levels(shape[1])
    # G: (linear | transposed conv) -> BN -> ReLU for every layer but the last, which is a conv -> tanh; at 28 px
    # the published MNIST net's hidden FC layer of 1024 comes first (BN per unit after each FC layer)
    fc = model.cfg.dcgan_fc
    assert fc == (1024 if shape[1] == 28 else 0)
    g_layers = [m for m in g if isinstance(m, (nn.Linear, nn.ConvTranspose2d))]
    assert len(g_layers) == k + 1 + (fc > 0) and isinstance(g[-1], nn.Tanh) and isinstance(g[-2], nn.ConvTranspose2d)
    for layer in g_layers[:-1]:
        i = g.index(layer)
        after = [type(m) for m in g[i + 1:i + 4] if not isinstance(m, networks._Reshape)]
        assert after[:2] in ([nn.BatchNorm2d, nn.ReLU], [nn.BatchNorm1d, nn.ReLU]), after
    assert g_layers[-1].out_channels == shape[0]
    # D: conv -> LeakyReLU(0.2) first, then conv -> BN -> LeakyReLU(0.2), each conv halving the side
    convs = [m for m in d if isinstance(m, nn.Conv2d)]
    assert len(convs) == k and all(c.stride == (2, 2) and c.kernel_size == (4, 4) for c in convs)
    assert isinstance(d[d.index(convs[0]) + 1], nn.LeakyReLU)
    for c in convs[1:]:
        i = d.index(c)
        assert isinstance(d[i + 1], nn.BatchNorm2d) and isinstance(d[i + 2], nn.LeakyReLU)
    for fc_layer in [m for m in d if isinstance(m, nn.Linear)]:                  # 28 px: FC 1024 -> BN -> lReLU
        i = d.index(fc_layer)
        assert fc_layer.out_features == fc and isinstance(d[i + 1], nn.BatchNorm1d) and isinstance(d[i + 2], nn.LeakyReLU)
    assert all(m.negative_slope == 0.2 for m in d if isinstance(m, nn.LeakyReLU))
    assert not any(isinstance(m, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d))
                   for net in (model.generator, model.discriminators[0]) for m in net.modules())
    x = model.generator(model.sample_z(4))
    assert x.shape == (4, *shape) and model.discriminators[0](x)[0].shape == (4,)


def test_dcgan_initialisation_is_n_0_002_and_bn_scale_n_1_002():
    torch.manual_seed(0)
    model = get_variant("nsgan")(data_shape=(3, 64, 64), data_kind="image", arch="dcgan")
    weights = torch.cat([m.weight.detach().flatten() for m in model.modules()
                         if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))])
    bn_w = torch.cat([m.weight.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    bn_b = torch.cat([m.bias.detach() for m in model.modules() if isinstance(m, nn.BatchNorm2d)])
    biases = [m.bias for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))
              and m.bias is not None]
    # millions of weights: mean 0 and std 0.02 to well under 1% (PyTorch's default init has std ≈ 0.01-0.1)
    assert abs(weights.mean().item()) < 1e-4 and weights.std().item() == pytest.approx(0.02, rel=0.01)
    assert bn_w.mean().item() == pytest.approx(1.0, abs=0.005) and bn_w.std().item() == pytest.approx(0.02, rel=0.1)
    assert bn_b.abs().max().item() == 0 and all(b.abs().max().item() == 0 for b in biases)


def test_dcgan_initialises_the_unnormalised_weight_of_spectral_norm_layers():
    torch.manual_seed(0)
    d = networks.dcgan_discriminator((3, 64, 64), width=16, norm="spectral")
    original = torch.cat([m.parametrizations.weight.original.detach().flatten() for m in d.modules()
                          if hasattr(m, "parametrizations")])
    assert original.std().item() == pytest.approx(0.02, rel=0.02)


def test_z_dim_is_100_only_for_dcgan():
    assert get_variant("nsgan")(data_shape=(2,)).cfg.z_dim == 64
    assert get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image").cfg.z_dim == 64          # mlp
    assert get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image", arch="dcgan", z_dim=16).cfg.z_dim == 16
    assert get_variant("nsgan")(data_shape=(2,)).cfg.d_norm == "none"


def scores_each_sample_alone(d: nn.Module, shape: tuple[int, ...]) -> bool:
    torch.manual_seed(1)
    x = torch.randn(6, *shape)
    together = d(x)[0]
    # in pairs, not one by one: the 28 px default's FC layer has BatchNorm1d, which cannot train on one sample
    alone = torch.cat([d(x[i:i + 2])[0] for i in range(0, 6, 2)])
    return torch.allclose(together, alone, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_per_sample_penalties_get_a_discriminator_that_scores_samples_independently(name):
    # a gradient penalty differentiates D at each interpolate separately: batch norm or minibatch
    # discrimination would couple them, so those variants default to layer norm and refuse both
    cls = VARIANTS[name]
    if not cls.has_discriminator:
        pytest.skip(f"{name} has no discriminator")
    torch.manual_seed(0)
    shape = (1, 28, 28)
    model = cls(data_shape=shape, num_classes=3, data_kind="image", arch="dcgan", width=8)
    d = model.discriminators[0].train()
    if model.cfg.per_sample_penalty():
        assert model.cfg.d_norm != "batch" and scores_each_sample_alone(d, shape)
        for bad in ({"d_norm": "batch"}, {"minibatch_kernels": 4}):
            with pytest.raises(ConfigError, match="gradient penalty"):
                cls(data_shape=shape, num_classes=3, data_kind="image", arch="dcgan", width=8, **bad)
    elif model.cfg.d_norm == "batch":
        assert not scores_each_sample_alone(d, shape)               # the paper's batch norm couples the batch


@pytest.mark.parametrize("name, off", [("wgan_gp", {"gp_weight": 0.0}), ("ratio_matching", {"gp_weight": 0.0}),
                                       ("mmdgan", {"penalty": "clip"})])
def test_without_the_penalty_the_paper_batch_norm_is_allowed(name, off):
    on = get_variant(name)(data_shape=(1, 28, 28), data_kind="image", arch="dcgan", width=8)
    assert on.cfg.per_sample_penalty()
    model = get_variant(name)(data_shape=(1, 28, 28), data_kind="image", arch="dcgan", width=8, d_norm="batch", **off)
    assert not model.cfg.per_sample_penalty() and model.cfg.d_norm == "batch"


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


def _layers(module):
    """(layer type, parameter and buffer shapes) of every leaf layer with state, in order."""
    return [(type(m).__name__, [tuple(t.shape) for t in (*m.parameters(recurse=False), *m.buffers(recurse=False))])
            for m in module.modules() if not list(m.children()) and (list(m.parameters(recurse=False)))]


def test_the_28px_default_is_the_published_mnist_network_layer_for_layer():
    # compared with the separately written InfoGAN network of benchmark/perf/dcgan_reference.py (Chen et al. 2016,
    # Table 1; Radford et al.'s MNIST code; Lucic et al. 2018): the same layers, widths, batch norms (per unit after
    # each FC layer) and biases, in the same order
    from benchmark.perf.dcgan_reference import InfoGANDiscriminator, InfoGANGenerator
    from models import get_variant

    default = get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image", arch="dcgan")
    assert default.cfg.dcgan_fc == 1024 and default.hparams["dcgan_fc"] == 1024       # resolved and recorded
    assert _layers(default.generator) == _layers(InfoGANGenerator(100))
    assert _layers(default.discriminators[0]) == _layers(InfoGANDiscriminator())
    assert default.generator(torch.randn(3, 100)).shape == (3, 1, 28, 28)
    for name in ("lsgan", "wgan_gp", "ebgan"):                                 # the same default for every objective
        assert get_variant(name)(data_shape=(1, 28, 28), data_kind="image", arch="dcgan").cfg.dcgan_fc == 1024
    rgb = get_variant("nsgan")(data_shape=(3, 28, 28), data_kind="image", arch="dcgan")    # stacked MNIST
    assert rgb.cfg.dcgan_fc == 1024
    sn = get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image", arch="dcgan", dcgan_fc=64, r1_gamma=1.0)
    assert any(isinstance(mod, nn.LayerNorm) for mod in sn.discriminators[0].modules())   # per-sample: layer norm


def test_the_28px_default_computes_the_published_networks_function_given_its_weights():
    # the reference's weights copied layer by layer into GANBench's G and D: the same outputs in train mode (batch
    # statistics) and, after a few training-mode forwards, in eval mode (running statistics) too
    from benchmark.perf.dcgan_reference import InfoGANDiscriminator, InfoGANGenerator, weights_init
    from models import get_variant

    torch.manual_seed(0)
    m = get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image", arch="dcgan")
    pairs = [(m.generator, InfoGANGenerator(100)), (m.discriminators[0], InfoGANDiscriminator())]
    for ours, ref in pairs:
        ref.apply(weights_init)
        mine = [x for x in ours.modules() if not list(x.children()) and list(x.parameters(recurse=False))]
        theirs = [x for x in ref.modules() if not list(x.children()) and list(x.parameters(recurse=False))]
        for a, b in zip(mine, theirs, strict=True):
            a.load_state_dict(b.state_dict())
    g, rg = pairs[0]
    d, rd = pairs[1]
    z = torch.randn(16, 100)
    for _ in range(3):                                            # train mode: batch statistics
        x = g(z)                                                  # one forward each: the running statistics
        torch.testing.assert_close(x, rg(z))                      # move alike
        torch.testing.assert_close(d(x.detach())[0], rd(x.detach()))
        z = torch.randn(16, 100)
    for net in (g, rg, d, rd):
        net.eval()
    torch.testing.assert_close(g(z), rg(z))                       # eval mode: the same running statistics
    torch.testing.assert_close(d(g(z))[0], rd(rg(z)))


def test_other_sides_and_dcgan_fc_0_keep_radfords_projection_without_fc_layers():
    from models import get_variant

    for shape in ((1, 8, 8), (3, 32, 32), (3, 64, 64)):
        m = get_variant("nsgan")(data_shape=shape, data_kind="image", arch="dcgan")
        assert m.cfg.dcgan_fc == 0 and not any(isinstance(mod, nn.BatchNorm1d) for mod in m.modules())
        assert sum(isinstance(mod, nn.Linear) for mod in m.generator.modules()) == 1       # the projection only
    narrow = get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image", arch="dcgan", dcgan_fc=0)
    assert not any(isinstance(mod, nn.BatchNorm1d) for mod in narrow.modules())
    assert isinstance(narrow.generator.body[2], nn.BatchNorm2d)                  # reshape, then BN per channel
    assert get_variant("nsgan")(data_shape=(1, 28, 28), data_kind="image").cfg.dcgan_fc == 0    # the MLP


def test_the_resolved_28px_default_enters_the_run_identity_and_earlier_ids_stay():
    from benchmark.train.options import resolve

    mnist = resolve({"variant": "nsgan", "data": "mnist", "arch": "dcgan"}).config()
    assert mnist["dcgan_fc"] == 1024                  # never taken for a run of the earlier default (no FC layer)
    narrow = resolve({"variant": "nsgan", "data": "mnist", "arch": "dcgan", "dcgan_fc": 0}).config()
    assert "dcgan_fc" not in narrow                   # the earlier default's id, as before dcgan_fc existed
    assert "dcgan_fc" not in resolve({"variant": "nsgan", "data": "cifar10", "arch": "dcgan"}).config()
    assert "dcgan_fc" not in resolve({"variant": "nsgan", "data": "digits"}).config()
