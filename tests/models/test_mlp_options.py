"""The MLP's options for PacGAN's toy networks (Lin et al. 2018): G with batch norm and its own size, a maxout D,
N(0, 0.02) initialisation; each against an independent computation, in single runs and in populations."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import models.variants  # noqa: F401  fills the registry
from models import networks
from models.config import ConfigError
from models.registry import get_variant

# benchmark/sweeps/pacgan.yaml's networks (PacGAN's synthetic_data_experiments configs)
PACGAN = dict(z_dim=2, hidden=200, depth=3, d_maxout=5, g_hidden=400, g_depth=4, g_norm="batch", activation="relu",
              mlp_init_std=0.02)


def test_maxout_is_the_max_over_each_units_consecutive_pieces():
    # Goodfellow et al. 2013 eq. 1, h_i = max_j z_ij, written out unit by unit and piece by piece
    torch.manual_seed(0)
    units, k = 3, 4
    lin = nn.Linear(5, units * k)
    x = torch.randn(6, 5)
    out = networks.Maxout(k)(lin(x))
    expected = torch.empty(6, units)
    w, bias = lin.weight.detach(), lin.bias.detach()
    for b in range(6):
        for i in range(units):
            expected[b, i] = max(float(w[i * k + j] @ x[b] + bias[i * k + j]) for j in range(k))
    torch.testing.assert_close(out, expected)
    # the gradient reaches only each unit's winning piece
    lin.zero_grad()
    networks.Maxout(k)(lin(x[:1])).sum().backward()
    z = lin(x[:1]).detach().view(units, k)
    winners = torch.zeros(units * k)
    winners[torch.arange(units) * k + z.argmax(1)] = 1.0
    torch.testing.assert_close(lin.bias.grad, winners)


def test_the_pacgan_toy_networks():
    torch.manual_seed(0)
    m = get_variant("nsgan")(data_shape=(2,), **PACGAN)
    g, d = list(m.generator.body), m.discriminators[0]
    # G: four 400-unit layers linear (no bias) -> batch norm -> ReLU, then a linear 2-D output with bias
    linears = [x for x in g if isinstance(x, nn.Linear)]
    assert [(x.in_features, x.out_features, x.bias is not None) for x in linears] == \
        [(2, 400, False), (400, 400, False), (400, 400, False), (400, 400, False), (400, 2, True)]
    assert [type(x) for x in g[:3]] == [nn.Linear, nn.BatchNorm1d, nn.ReLU]
    assert sum(isinstance(x, nn.BatchNorm1d) for x in g) == 4
    # D: three maxout layers of 200 units x 5 pieces, then the linear score; no normalisation, no other activation
    body = list(d.body)
    assert [(x.in_features, x.out_features) for x in body if isinstance(x, nn.Linear)] == \
        [(2, 1000), (200, 1000), (200, 1000)]
    assert [x.pieces for x in body if isinstance(x, networks.Maxout)] == [5, 5, 5]
    assert not any(isinstance(x, (nn.ReLU, nn.Tanh, nn.LeakyReLU, nn.BatchNorm1d)) for x in d.modules())
    assert d.head.linear.in_features == 200
    # their parameter counts: G 2·400 + 3·400² + 4 BN·800 + 400·2 + 2; D 2·1000 + 1000 + 2·(200·1000 + 1000) + 201
    assert sum(p.numel() for p in m.generator.parameters()) == 484_802
    assert sum(p.numel() for p in d.parameters()) == 405_201
    # N(0, 0.02) weights, zero biases, BN scale 1
    big = torch.cat([x.weight.flatten() for x in m.modules() if isinstance(x, nn.Linear) and x.weight.numel() > 10_000])
    assert abs(big.std().item() - 0.02) < 0.001 and abs(big.mean().item()) < 0.001
    assert all(torch.all(x.bias == 0) for x in m.modules() if isinstance(x, nn.Linear) and x.bias is not None)
    assert all(torch.all(x.weight == 1) for x in m.modules() if isinstance(x, nn.BatchNorm1d))
    # it trains in eval and train mode alike
    fake = m.generator(torch.randn(7, 2))
    assert fake.shape == (7, 2) and d(fake)[0].shape == (7,)


def test_without_the_options_the_mlp_is_unchanged():
    torch.manual_seed(0)
    a = get_variant("nsgan")(data_shape=(2,))
    torch.manual_seed(0)
    b = get_variant("nsgan")(data_shape=(2,), g_hidden=128, g_depth=2, g_norm="none", d_maxout=0, mlp_init_std=0.0)
    assert a.state_dict().keys() == b.state_dict().keys()
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())
    from benchmark.train.options import resolve

    config = resolve({"variant": "nsgan", "data": "ring8"}).config()           # run ids made before stay the same
    assert not {"g_hidden", "g_depth", "g_norm", "d_maxout", "mlp_init_std"} & set(config)
    assert resolve({"variant": "nsgan", "data": "ring8", "d_maxout": 5}).config()["d_maxout"] == 5


@pytest.mark.parametrize("variant, opts, match", [
    ("nsgan", dict(arch="dcgan", g_norm="batch"), "g_norm is an option of the MLP"),
    ("nsgan", dict(arch="dcgan", mlp_init_std=0.02), "mlp_init_std is an option of the MLP"),
    ("nsgan", dict(d_maxout=1), "d_maxout=1"),
    ("nsgan", dict(d_maxout=-2), "d_maxout"),
    ("nsgan", dict(g_depth=0), "g_depth=0"),
    ("gmmn", dict(d_maxout=5), "has no discriminator"),
    ("ebgan", dict(d_maxout=5), "builds its own"),
])
def test_the_options_are_refused_where_they_cannot_apply(variant, opts, match):
    shape = (1, 8, 8) if opts.get("arch") == "dcgan" else (2,)
    with pytest.raises(ConfigError, match=match):
        get_variant(variant)(data_shape=shape, data_kind="image" if len(shape) == 3 else "points", **opts)


def test_a_population_member_with_these_networks_is_its_single_run():
    """PacGAN's networks (scaled down) in a population: per-member batch norm in G, maxout in D."""
    from tests.models.test_population import SEEDS, _assert_same, _options, _population, _single

    opts = _options("nsgan", **{**PACGAN, "hidden": 12, "g_hidden": 16, "g_depth": 2, "d_maxout": 3, "lr_g": 1e-3,
                                "lr_d": 1e-3, "beta1": 0.8})
    pop = _population("nsgan", SEEDS, opts)
    for k, seed in enumerate(SEEDS):
        _assert_same(_single("nsgan", seed, opts), pop.member(k))
