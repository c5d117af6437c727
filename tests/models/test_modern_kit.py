"""Issue 28: RpGAN, R1/R2, DRAGAN, BEGAN, the EMA generator and DiffAugment, each against an independent computation
(hand values, finite differences of a nonlinear critic, a replayed random draw)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from models import ConfigError, get_variant, losses
from models.augment import cutout, diff_augment, translation

torch.set_default_dtype(torch.float32)


# ------------------------------------------------------------------------------------------ helpers
class Critic(nn.Module):
    """A nonlinear critic D(x) = vᵀ tanh(W x + b) + ½ Σ sin(x)², scoring each sample on its own."""

    def __init__(self, dim: int, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(torch.randn(16, dim, generator=g, dtype=torch.float64))
        self.b = nn.Parameter(torch.randn(16, generator=g, dtype=torch.float64))
        self.v = nn.Parameter(torch.randn(16, generator=g, dtype=torch.float64))

    def forward(self, x: torch.Tensor, y=None):
        f = torch.tanh(x.flatten(1) @ self.W.t() + self.b)
        return f @ self.v + 0.5 * torch.sin(x.flatten(1)).pow(2).sum(1), f


def fd_grad(fn, x: torch.Tensor, h: float = 1e-6) -> torch.Tensor:
    """Central finite differences of Σ_i fn(x)_i with respect to every element of x (float64)."""
    x = x.detach().clone()
    grad = torch.zeros_like(x)
    flat, gflat = x.view(-1), grad.view(-1)
    for j in range(flat.numel()):
        old = flat[j].item()
        flat[j] = old + h
        up = fn(x).sum().item()
        flat[j] = old - h
        down = fn(x).sum().item()
        flat[j] = old
        gflat[j] = (up - down) / (2 * h)
    return grad


class StubDispatch:
    """The three things the shared step needs from a trainer: optimisers, backward, step (plain SGD)."""

    def __init__(self, model, lr_d: float = 0.0, lr_g: float = 0.1) -> None:
        self.opt_d = torch.optim.SGD(model.discriminators.parameters(), lr=lr_d)
        self.opt_g = torch.optim.SGD(model.generator.parameters(), lr=lr_g)
        self.schedulers = []
        self.model = model

    @staticmethod
    def backward(loss):
        loss.backward()

    @staticmethod
    def step(opt):
        opt.step()

    def toggle_g(self):
        import contextlib
        return contextlib.nullcontext()


def stubbed(model, **kw):
    model._dispatch = StubDispatch(model, **kw)
    return model


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# --------------------------------------------------------------------------------------------- RpGAN
def test_rpgan_losses_at_hand_values_pair_real_and_fake_by_index():
    real, fake = torch.tensor([2.0, -1.0, 0.5]), torch.tensor([0.0, 1.0, 0.5])
    d = sum(softplus(f - r) for r, f in zip(real.tolist(), fake.tolist())) / 3
    g = sum(softplus(r - f) for r, f in zip(real.tolist(), fake.tolist())) / 3
    assert losses.rpgan_d_loss(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert losses.rpgan_g_loss(fake, real).item() == pytest.approx(g, rel=1e-6)
    # pairing matters: the mean of softplus of differences is not a function of the two means alone
    assert losses.rpgan_d_loss(real, fake.flip(0)).item() != pytest.approx(d, rel=1e-3)


def test_rpgan_variant_losses_use_real_and_fake_scores():
    from models.base import Critique
    m = get_variant("rpgan")(data_shape=(2,), hidden=8)
    real = Critique(torch.zeros(2, 2), torch.tensor([3.0, 0.0]), torch.zeros(2, 1))
    fake = Critique(torch.zeros(2, 2), torch.tensor([-1.0, 0.5]), torch.zeros(2, 1))
    assert m.d_loss(real, fake).item() == pytest.approx((softplus(-4.0) + softplus(0.5)) / 2, rel=1e-6)
    assert m.g_loss(fake, real).item() == pytest.approx((softplus(4.0) + softplus(-0.5)) / 2, rel=1e-6)
    assert m.g_needs_real


# -------------------------------------------------------------------------------------------- R1 / R2
@pytest.mark.parametrize("gamma", [0.1, 2.0])
def test_r1_and_r2_are_half_gamma_mean_squared_input_gradient_by_finite_differences(gamma):
    torch.manual_seed(0)
    critic = Critic(3)
    x = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    expected = 0.5 * gamma * fd_grad(lambda t: critic(t)[0], x).pow(2).sum(1).mean().item()
    assert losses.r1_penalty(critic(x)[0], x, gamma).item() == pytest.approx(expected, rel=1e-6)
    assert losses.r2_penalty(critic(x)[0], x, gamma).item() == pytest.approx(expected, rel=1e-6)


def test_r1_trains_the_critic_its_parameter_gradient_matches_finite_differences():
    torch.manual_seed(1)
    critic = Critic(2)
    x = torch.randn(4, 2, dtype=torch.float64)

    def penalty() -> torch.Tensor:
        xi = x.clone().requires_grad_(True)
        return losses.r1_penalty(critic(xi)[0], xi, 1.0)

    critic.zero_grad()
    penalty().backward()
    w = critic.v
    analytic = w.grad.clone()
    numeric = torch.zeros_like(w)
    for j in range(w.numel()):
        old = w[j].item()
        with torch.no_grad():
            w[j] = old + 1e-6
        up = penalty().item()
        with torch.no_grad():
            w[j] = old - 1e-6
        down = penalty().item()
        with torch.no_grad():
            w[j] = old
        numeric[j] = (up - down) / 2e-6
    assert torch.allclose(analytic, numeric, rtol=1e-5, atol=1e-8)


def counting(disc: nn.Module) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []
    original = disc.forward

    def forward(x, y=None):
        seen.append(x.detach().clone())
        return original(x, y)
    disc.forward = forward
    return seen


@pytest.mark.parametrize("name", ["rpgan", "nsgan", "minimax", "dragan", "cgan"])
def test_the_step_adds_r1_on_reals_and_r2_on_fakes_reusing_the_losss_forward_passes(name):
    torch.manual_seed(0)
    m = stubbed(get_variant(name)(data_shape=(3,), num_classes=2, hidden=8, activation="tanh",
                                  r1_gamma=0.7, r2_gamma=0.3, log_every=10**6, iterations=10**6,
                                  **({"dragan_weight": 0.0} if name == "dragan" else {})))
    disc = m.discriminators[0].double()
    m.generator.double()
    x, fake = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    y = torch.randint(0, 2, (6,)) if m.cond_classes else None
    seen = counting(disc)
    m.discriminator_step(x, fake, y)
    assert len(seen) == 2          # one forward for the reals, one for the fakes: R1/R2 reuse them

    def score(t):
        return disc(t, y)[0]
    seen.clear()
    r1 = 0.5 * 0.7 * fd_grad(score, x).pow(2).sum(1).mean().item()
    r2 = 0.5 * 0.3 * fd_grad(score, fake).pow(2).sum(1).mean().item()
    assert m.scalars.mean("r1") == pytest.approx(r1, rel=1e-5)
    assert m.scalars.mean("r2") == pytest.approx(r2, rel=1e-5)
    assert r1 != pytest.approx(r2, rel=1e-2)


def test_r1_r2_are_refused_for_non_logit_critics_and_make_dcgan_d_layer_normed():
    for name in ("wgan", "hinge", "lsgan", "ebgan", "gmmn"):
        with pytest.raises(ConfigError, match="r1_gamma"):
            get_variant(name)(data_shape=(2,), r1_gamma=1.0)
    m = get_variant("nsgan")(data_shape=(1, 8, 8), data_kind="image", arch="dcgan", width=4, r1_gamma=1.0)
    assert m.cfg.d_norm == "layer"
    with pytest.raises(ConfigError, match="batch"):
        get_variant("nsgan")(data_shape=(1, 8, 8), data_kind="image", arch="dcgan", d_norm="batch", r2_gamma=1.0)
    with pytest.raises(ConfigError, match=">= 0"):
        get_variant("nsgan")(data_shape=(2,), r1_gamma=-1.0)


# ---------------------------------------------------------------------------------------------- DRAGAN
def test_dragan_penalty_matches_a_replayed_perturbation_and_finite_differences():
    critic = Critic(3, seed=2)
    x = torch.randn(6, 3, dtype=torch.float64)
    torch.manual_seed(5)
    value = losses.dragan_penalty(lambda t: critic(t)[0], x, weight=10.0, c=0.5).item()
    torch.manual_seed(5)                                     # replay the draws by hand
    u = torch.rand_like(x)
    alpha = torch.rand(6, 1, dtype=torch.float64)
    x_hat = x + alpha * 0.5 * x.std() * u
    norms = fd_grad(lambda t: critic(t)[0], x_hat).norm(dim=1)
    assert value == pytest.approx(10.0 * (norms - 1).pow(2).mean().item(), rel=1e-6)


def test_dragan_perturbation_stays_within_c_std_above_the_data_with_its_own_alpha_per_sample():
    torch.manual_seed(0)
    x = torch.randn(64, 5) * 3
    d = losses.dragan_perturb(x, c=0.5) - x
    assert (d >= 0).all() and (d <= 0.5 * x.std() + 1e-6).all()
    assert d.max() > 0.3 * x.std()                           # the scale is std(x), not 1
    reach = d.max(1).values / (0.5 * x.std())                # α·max(u): α per sample, so some samples barely move
    assert reach.min() < 0.1 and reach.max() > 0.8


def test_dragan_variant_penalises_around_the_reals_not_the_fakes():
    m = get_variant("dragan")(data_shape=(2,), hidden=8)
    disc = m.discriminators[0]
    real, fake = torch.zeros(8, 2), torch.full((8, 2), 50.0)
    seen = counting(disc)
    torch.manual_seed(0)
    m.d_penalty(disc, real, fake, None)
    assert len(seen) == 1 and seen[0].abs().max() < 5.0      # x̂ near the reals (0), far from the fakes (50)
    assert m.cfg.per_sample_penalty() and m.cfg.dragan_weight == 10.0 and m.cfg.dragan_c == 0.5


# ----------------------------------------------------------------------------------------------- BEGAN
def test_began_losses_k_update_and_convergence_measure_at_hand_values():
    real, fake = torch.tensor([0.2, 0.4]), torch.tensor([0.1, 0.3])         # L(x) = 0.3, L(G(z)) = 0.2
    assert losses.began_d_loss(real, fake, 0.25).item() == pytest.approx(0.3 - 0.25 * 0.2)
    assert losses.began_g_loss(fake).item() == pytest.approx(0.2)
    k = losses.began_k_update(torch.tensor(0.5), real, fake, gamma=0.5, lambda_k=0.1)
    assert k.item() == pytest.approx(0.5 + 0.1 * (0.5 * 0.3 - 0.2))
    assert losses.began_k_update(torch.tensor(0.0), real, fake, 0.5, 0.1).item() == 0.0      # clipped at 0
    assert losses.began_k_update(torch.tensor(1.0), real, torch.zeros(2), 0.5, 0.1).item() == 1.0
    assert losses.began_convergence(real, fake, 0.5).item() == pytest.approx(0.3 + abs(0.15 - 0.2))


def test_began_step_updates_k_from_its_losses_and_logs_m_global_on_the_device():
    torch.manual_seed(0)
    m = stubbed(get_variant("began")(data_shape=(1, 8, 8), data_kind="image", hidden=16, lambda_k=0.5,
                                     began_gamma=0.9, log_every=10**6, iterations=10**6), lr_d=0.0)
    assert m.began_k.item() == 0.0 and "began_k" in m.state_dict()
    x = torch.rand(8, 1, 8, 8) * 2 - 1
    fake = torch.rand(8, 1, 8, 8) * 0.2 - 1                 # far from x: the autoencoder reconstructs both badly
    disc = m.discriminators[0]
    with torch.no_grad():
        lr, lf = disc(x)[0], disc(fake)[0]
        e_real, e_fake = (x - disc.decoder(disc.encoder(x)).view_as(x)).abs().flatten(1).mean(1), None
    assert torch.allclose(lr, e_real)                       # L(v) = mean |v - D(v)| (η = 1)
    m.discriminator_step(x, fake, None)                     # lr_d = 0: D unchanged, so lr/lf are its losses
    k = min(max(0.5 * (0.9 * lr.mean().item() - lf.mean().item()), 0.0), 1.0)
    assert m.began_k.item() == pytest.approx(k, rel=1e-5, abs=1e-7)
    assert m.scalars.mean("began_m_global") == pytest.approx(
        lr.mean().item() + abs(0.9 * lr.mean().item() - lf.mean().item()), rel=1e-5)
    assert m.scalars.mean("began_k") == pytest.approx(k, rel=1e-5, abs=1e-7)
    with pytest.raises(ConfigError, match="n_discriminators"):
        get_variant("began")(data_shape=(2,), n_discriminators=2)


# --------------------------------------------------------------------------------------------- g_ema
def test_g_ema_averages_g_after_each_g_step_is_sampled_and_checkpointed():
    torch.manual_seed(0)
    m = stubbed(get_variant("nsgan")(data_shape=(2,), hidden=8, g_ema=0.9, log_every=10**6, iterations=10**6))
    ema0 = [p.clone() for p in m.generator_ema.parameters()]
    for p, q in zip(ema0, m.generator.parameters()):
        assert torch.equal(p, q)                            # starts as a copy of G
    x = torch.randn(16, 2)
    fake = m.generator(m.sample_z(16), None)
    m.generator_step(x, fake, None)
    g1 = [p.detach().clone() for p in m.generator.parameters()]
    assert not all(torch.equal(a, b) for a, b in zip(ema0, g1))          # G moved
    for e, e0, g in zip(m.generator_ema.parameters(), ema0, g1):
        assert torch.allclose(e, 0.9 * e0 + 0.1 * g, atol=1e-7)
        assert not e.requires_grad
    torch.manual_seed(3)
    s = m.sample(5)
    torch.manual_seed(3)
    assert torch.allclose(s, m.generator_ema(m.sample_z(5), None))
    torch.manual_seed(3)
    assert not torch.allclose(s, m.generator(m.sample_z(5), None))      # not the raw G
    fresh = get_variant("nsgan")(data_shape=(2,), hidden=8, g_ema=0.9)
    fresh.load_state_dict(m.state_dict())                   # the EMA is part of the checkpointed state
    for a, b in zip(fresh.generator_ema.parameters(), m.generator_ema.parameters()):
        assert torch.equal(a, b)
    assert get_variant("nsgan")(data_shape=(2,)).generator_ema is None
    with pytest.raises(ConfigError, match="g_ema"):
        get_variant("nsgan")(data_shape=(2,), g_ema=1.0)


def test_g_ema_is_recorded_in_every_scores_protocol():
    from benchmark.train.run import generator_protocol
    protocols = {"fid": {"num_samples": 10}, "kid": {"num_samples": 10}}
    assert generator_protocol(protocols, 0.0) == protocols
    out = generator_protocol(protocols, 0.999)
    assert out == {"fid": {"num_samples": 10, "generator": "ema 0.999"},
                   "kid": {"num_samples": 10, "generator": "ema 0.999"}}


# ------------------------------------------------------------------------------------------- DiffAugment
def test_translation_is_a_zero_filled_integer_shift_of_at_most_an_eighth():
    torch.manual_seed(0)
    x = torch.rand(6, 2, 16, 16) + 1.0                       # no zeros in the data
    out = translation(x)
    for i in range(6):
        matches = []
        for dx in range(-2, 3):
            for dy in range(-2, 3):
                shifted = torch.zeros(2, 20, 20)
                shifted[:, 2:18, 2:18] = x[i]
                # out[h, w] = x[h + dx, w + dy] (zero outside)
                want = shifted[:, 2 + dx:18 + dx, 2 + dy:18 + dy]
                if torch.equal(out[i], want):
                    matches.append((dx, dy))
        assert len(matches) == 1, (i, matches)


def test_cutout_zeroes_at_most_one_half_side_square_and_keeps_the_rest():
    torch.manual_seed(1)
    x = torch.rand(8, 1, 16, 16) + 1.0
    out = cutout(x)
    for i in range(8):
        zero = out[i, 0] == 0
        assert torch.equal(out[i, 0][~zero], x[i, 0][~zero])
        rows, cols = zero.any(1).nonzero().flatten(), zero.any(0).nonzero().flatten()
        assert 0 < zero.sum() <= 64 and zero.sum() == len(rows) * len(cols)      # one rectangle, ≤ 8×8
        assert len(rows) <= 8 and len(cols) <= 8


def test_diffaugment_is_deterministic_given_the_seed_and_differentiable():
    x = torch.rand(4, 3, 8, 8, requires_grad=True)
    torch.manual_seed(7)
    a = diff_augment(x, "color,translation,cutout")
    torch.manual_seed(7)
    b = diff_augment(x, "color,translation,cutout")
    assert torch.equal(a, b)
    a.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0


def test_the_step_augments_real_and_fake_in_the_d_step_and_fake_in_the_g_step():
    torch.manual_seed(0)
    m = stubbed(get_variant("nsgan")(data_shape=(1, 8, 8), data_kind="image", hidden=8,
                                     diffaugment="translation,cutout", log_every=10**6, iterations=10**6))
    seen = counting(m.discriminators[0])
    x = torch.rand(4, 1, 8, 8) + 1.0
    fake = torch.rand(4, 1, 8, 8) + 1.0
    m.discriminator_step(x, fake, None)
    real_seen, fake_seen = seen
    assert not torch.equal(real_seen, x) and not torch.equal(fake_seen, fake)
    assert (real_seen == 0).any() and (fake_seen == 0).any()          # cutout/translation zeros on both sides
    seen.clear()
    g_fake = (m.generator(m.sample_z(4), None) + 2.0)               # no zeros before augmentation
    m.generator_step(x, g_fake, None)
    assert (seen[0] == 0).any()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.generator.parameters())


def test_diffaugment_is_refused_for_points_and_unknown_policies_and_enters_the_identity():
    with pytest.raises(ConfigError, match="point data"):
        get_variant("nsgan")(data_shape=(2,), diffaugment="color")
    with pytest.raises(ConfigError, match="unknown part"):
        get_variant("nsgan")(data_shape=(1, 8, 8), data_kind="image", diffaugment="colour")
    with pytest.raises(ConfigError, match="no discriminator"):
        get_variant("gmmn")(data_shape=(1, 8, 8), data_kind="image", diffaugment="color")
    from benchmark.train.options import resolve
    base = {"variant": "nsgan", "data": "digits"}
    off = resolve(base).config()
    on = resolve({**base, "diffaugment": "color,cutout"}).config()
    assert "diffaugment" not in off and "r1_gamma" not in off and "g_ema" not in off     # earlier ids unchanged
    assert on["diffaugment"] == "color,cutout"
    with pytest.raises(ConfigError, match="point data"):
        resolve({"variant": "nsgan", "data": "ring8", "diffaugment": "color"})


def test_r1_and_r2_are_added_to_d_loss_so_the_d_step_descends_the_penalised_loss():
    import copy
    torch.manual_seed(0)
    m = stubbed(get_variant("nsgan")(data_shape=(3,), hidden=8, r1_gamma=5.0, r2_gamma=3.0, log_every=10**6,
                                     iterations=10**6), lr_d=1.0)
    disc = m.discriminators[0].double()
    before = copy.deepcopy(disc)
    x, fake = torch.randn(6, 3, dtype=torch.float64), torch.randn(6, 3, dtype=torch.float64)
    xr, xf = x.clone().requires_grad_(True), fake.clone().requires_grad_(True)
    sr, sf = before(xr)[0], before(xf)[0]
    total = losses.minimax_d_loss(sr, sf) + losses.r1_penalty(sr, xr, 5.0) + losses.r2_penalty(sf, xf, 3.0)
    grads = torch.autograd.grad(total, list(before.parameters()))
    m.discriminator_step(x, fake, None)                      # plain SGD, lr 1: θ' = θ - ∇(loss + R1 + R2)
    for p0, p1, g in zip(before.parameters(), disc.parameters(), grads):
        assert torch.allclose(p1, p0 - g, atol=1e-10)
