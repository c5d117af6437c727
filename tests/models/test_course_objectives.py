"""The course objectives against independent computations: f-GAN bounds at the optimal critic vs
closed-form divergences, Fenchel–Young equality, the unbiased MMD² vs a double loop, the EBGAN hinge and
pulling-away term at known values, uLSIF's minimiser, and the class prior π of ``minimax``."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models import VARIANTS, ConfigError, Critique, get_variant, losses

COURSE = ("ebgan", "fgan", "gmmn", "mmdgan", "ratio_matching")
DIVERGENCES = ("kl", "reverse_kl", "pearson", "squared_hellinger", "js", "gan", "total_variation", "neyman", "jeffrey")

# two discrete distributions on three atoms, given as 10 equally weighted samples each (exact expectations)
P_COUNTS, Q_COUNTS = np.array([5, 3, 2]), np.array([2, 3, 5])
P, Q = P_COUNTS / 10, Q_COUNTS / 10


def closed_form(name: str) -> float:
    """D_f(P‖Q) written out by hand with numpy (not from ``F_DIVERGENCES``)."""
    kl = lambda a, b: float(np.sum(a * np.log(a / b)))        # noqa: E731
    m = (P + Q) / 2
    jsd = 0.5 * kl(P, m) + 0.5 * kl(Q, m)
    return {"kl": kl(P, Q), "reverse_kl": kl(Q, P), "pearson": float(np.sum((P - Q) ** 2 / Q)),
            "squared_hellinger": float(np.sum((np.sqrt(P) - np.sqrt(Q)) ** 2)),
            "js": 2 * jsd,                                   # Nowozin et al.'s JS row is 2·JSD
            "gan": 2 * jsd - math.log(4),
            "total_variation": 0.5 * float(np.sum(np.abs(P - Q))),
            "neyman": float(np.sum((Q - P) ** 2 / P)),
            "jeffrey": float(np.sum((P - Q) * np.log(P / Q)))}[name]


def optimal_v(name: str, u: np.ndarray) -> np.ndarray:
    """The raw critic output V* = g_f⁻¹(f'(u)) at density ratio u, inverted by hand per row of Table 2."""
    if name == "kl":                                         # g = v, f' = 1 + log u
        return 1 + np.log(u)
    if name == "reverse_kl":                                 # g = -exp(-v), f' = -1/u  ->  v = log u
        return np.log(u)
    if name == "pearson":                                    # g = v, f' = 2(u - 1)
        return 2 * (u - 1)
    if name == "squared_hellinger":                          # g = 1 - exp(-v), f' = 1 - u^-½ -> v = ½ log u
        return 0.5 * np.log(u)
    if name == "js":                                         # g = log 2 - softplus(-v), f' = log(2u/(1+u)) -> v = log u
        return np.log(u)
    if name == "gan":                                        # g = log σ(v), f' = log(u/(1+u)) -> v = log u
        return np.log(u)
    if name == "total_variation":                            # g = ½ tanh v, f' = ½ sign(u - 1) -> v = ±∞
        return 40.0 * np.sign(u - 1)                         # tanh(±40) = ±1 in float64
    if name == "neyman":                                     # g = 1 - e^v, f' = 1 - u^-2 -> v = -2 log u
        return -2 * np.log(u)
    if name == "jeffrey":                                    # g = v, f' = log u + 1 - 1/u
        return np.log(u) + 1 - 1 / u
    raise KeyError(name)


def as_samples(values: np.ndarray, counts: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.repeat(values, counts), dtype=torch.float64)


@pytest.mark.parametrize("name", DIVERGENCES)
def test_fgan_bound_at_the_optimal_critic_is_the_divergence(name):
    div = losses.F_DIVERGENCES[name]
    v_star = optimal_v(name, P / Q)
    real, fake = as_samples(v_star, P_COUNTS), as_samples(v_star, Q_COUNTS)
    bound = losses.fgan_bound(real, fake, div).item()
    assert bound == pytest.approx(closed_form(name), rel=1e-9, abs=1e-12)
    assert losses.fgan_d_loss(real, fake, div).item() == pytest.approx(-bound)
    # the variational bound is a lower bound: any other critic gives less
    for delta in (-0.3, 0.2):
        other = v_star + delta * np.array([1.0, -1.0, 0.5])
        if name == "total_variation":                        # the optimum is at v = ±∞: shrink it instead
            other = np.clip(v_star, -1 - delta, 1 + delta)
        assert losses.fgan_bound(as_samples(other, P_COUNTS), as_samples(other, Q_COUNTS), div).item() < bound
    # the ``fgan`` variant uses exactly this bound as its (negated) D loss
    model = get_variant("fgan")(data_shape=(2,), divergence=name)
    crit = lambda s: Critique(s[:, None], s, s[:, None])    # noqa: E731
    assert model.d_loss(crit(real), crit(fake)).item() == pytest.approx(-bound)


@pytest.mark.parametrize("name", DIVERGENCES)
def test_conjugates_satisfy_fenchel_young_equality(name):
    # f(u) + f*(t) = u t exactly at t = f'(u) (and f(u) + f*(t) >= u t elsewhere)
    div = losses.F_DIVERGENCES[name]
    u = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.0], dtype=torch.float64)
    t = div.optimal_t(u)
    torch.testing.assert_close(div.f(u) + div.conjugate(t), u * t)
    t_other = t - 0.05                                         # stays inside dom f* for every row
    assert torch.all(div.f(u) + div.conjugate(t_other) >= u * t_other - 1e-12)
    f1 = -math.log(4) if name == "gan" else 0.0                # f(1) = 0 except the GAN row (D_f = 2 JSD - log 4)
    assert div.f(torch.ones(1, dtype=torch.float64)).item() == pytest.approx(f1, abs=1e-12)


@pytest.mark.parametrize("name", DIVERGENCES)
def test_stable_fake_term_equals_the_composition_and_stays_finite(name):
    div = losses.F_DIVERGENCES[name]
    v = torch.linspace(-3, 3, 13, dtype=torch.float64)
    if name in ("js", "gan"):                                   # f* is only finite for t < log 2 / t < 0
        v = v.clamp(max=0.6)
    torch.testing.assert_close(div.fake_term(v), div.conjugate(div.activation(v)))
    extreme = torch.tensor([-40.0, 40.0])
    if name != "kl":                                            # exp(v - 1) is the true value for KL
        assert torch.isfinite(div.fake_term(extreme)).all()


def test_lambert_w_of_exp_solves_w_plus_log_w():
    # W(e^s) is the w with w e^w = e^s; checked against scipy's Lambert W where e^s is representable
    from scipy.special import lambertw

    s = torch.tensor([-30.0, -3.0, -0.5, 0.0, 1.0, 2.5, 10.0, 300.0], dtype=torch.float64)
    w = losses.lambert_w_of_exp(s)
    torch.testing.assert_close(w + torch.log(w), s, rtol=0, atol=1e-12)
    small = s[:-1]
    ref = np.real(lambertw(np.exp(small.numpy())))
    np.testing.assert_allclose(w[:-1].numpy(), ref, rtol=1e-12)


def test_fgan_generator_losses():
    v = torch.tensor([-1.0, 0.0, 2.0])
    gan = losses.F_DIVERGENCES["gan"]
    # the alternative G loss of the GAN row is the non-saturating GAN loss; the saddle one is the minimax one
    torch.testing.assert_close(losses.fgan_g_loss(v, gan), losses.nonsaturating_g_loss(v))
    torch.testing.assert_close(losses.fgan_saddle_g_loss(v, gan), losses.minimax_g_loss(v))
    kl = losses.F_DIVERGENCES["kl"]
    assert losses.fgan_g_loss(v, kl).item() == pytest.approx(-1 / 3)
    with pytest.raises(ConfigError, match="divergence"):
        get_variant("fgan")(data_shape=(2,), divergence="wasserstein")


# ---------------------------------------------------------------------------------------------- MMD
def mmd2_loop(x: np.ndarray, y: np.ndarray, sigmas) -> float:
    def k(a, b):
        return sum(math.exp(-float(np.sum((a - b) ** 2)) / (2 * s * s)) for s in sigmas)

    m, n = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return xx + yy - 2 * xy


def test_unbiased_mmd2_matches_a_double_loop():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(9, 3, generator=g, dtype=torch.float64), torch.randn(7, 3, generator=g, dtype=torch.float64) + 0.5
    sigmas = (0.5, 1.0, 3.0)
    assert losses.mmd2_unbiased(x, y, sigmas).item() == pytest.approx(mmd2_loop(x.numpy(), y.numpy(), sigmas), rel=1e-10)
    # images are flattened
    xi, yi = x[:, :2].reshape(9, 1, 2, 1), y[:, :2].reshape(7, 1, 2, 1)
    assert losses.mmd2_unbiased(xi, yi, sigmas).item() == pytest.approx(
        mmd2_loop(x[:, :2].numpy(), y[:, :2].numpy(), sigmas), rel=1e-10)


def test_unbiased_mmd2_is_near_zero_for_one_distribution_and_positive_for_two():
    g = torch.Generator().manual_seed(1)
    sigmas = losses.geometric_bandwidths(0.05, 4.0, 7)
    a, b = torch.randn(600, 2, generator=g), torch.randn(600, 2, generator=g)
    same = losses.mmd2_unbiased(a, b, sigmas).item()
    shifted = losses.mmd2_unbiased(a, b + 1.0, sigmas).item()
    assert abs(same) < 0.01 < 0.3 < shifted
    # unbiased: over many pairs of samples of one distribution the mean is ~0 (can be negative per draw)
    vals = [losses.mmd2_unbiased(torch.randn(20, 2, generator=g), torch.randn(20, 2, generator=g), sigmas).item()
            for _ in range(100)]
    assert min(vals) < 0 and abs(np.mean(vals)) < 0.01


def test_mmd2_gradient_is_finite_for_duplicate_samples():
    sigmas = losses.geometric_bandwidths(0.05, 4.0, 7)
    y = torch.randn(4, 2).repeat(8, 1).requires_grad_(True)            # zero distances inside the batch
    losses.mmd2_unbiased(torch.randn(32, 2), y, sigmas).backward()
    assert torch.isfinite(y.grad).all()
    assert losses.geometric_bandwidths(1.0, 8.0, 4) == pytest.approx((1.0, 2.0, 4.0, 8.0))


def test_gmmn_scales_bandwidths_with_dimension_and_minimises_mmd():
    model = get_variant("gmmn")(data_shape=(1, 8, 8), data_kind="image")
    assert not model.discriminators and model.has_discriminator is False
    x = torch.rand(16, 1, 8, 8)
    fake, real = Critique(x, None, x.flatten(1)), Critique(x, None, x.flatten(1) + 0.5)
    from models.variants.gmmn import scaled_bandwidths
    bw = scaled_bandwidths(model.cfg, 64)
    assert bw[0] == pytest.approx(model.cfg.sigma_min * math.sqrt(32))
    assert model.g_loss(fake, real).item() == pytest.approx(losses.mmd2_unbiased(x.flatten(1) + 0.5, x.flatten(1), bw).item())


def test_mmdgan_critic_maximises_what_the_generator_minimises():
    torch.manual_seed(0)
    model = get_variant("mmdgan")(data_shape=(2,), hidden=16)
    f_real, f_fake = torch.randn(8, 16), torch.randn(8, 16) + 1
    real, fake = Critique(torch.zeros(8, 2), torch.zeros(8), f_real), Critique(torch.zeros(8, 2), torch.zeros(8), f_fake)
    assert model.g_loss(fake, real).item() == pytest.approx(-model.d_loss(real, fake).item()) and model.g_needs_real
    gp = model.d_penalty(model.discriminators[0], torch.randn(8, 2), torch.randn(8, 2), None)
    assert gp.item() >= 0 and gp.requires_grad
    clipped = get_variant("mmdgan")(data_shape=(2,), hidden=16, penalty="clip", clip=0.01)
    assert clipped.d_penalty(clipped.discriminators[0], torch.randn(8, 2), torch.randn(8, 2), None) is None
    clipped.after_d_step()
    assert max(p.abs().max().item() for p in clipped.discriminators.parameters()) <= 0.01


# -------------------------------------------------------------------------------------------- EBGAN
def test_ebgan_hinge_at_known_energies():
    # E(x) = (0.1, 0.3) -> 0.2; E(G(z)) = (0.5, 2.0), m = 1: [1 - 0.5]₊ = 0.5, [1 - 2]₊ = 0 -> 0.25
    real, fake = torch.tensor([0.1, 0.3]), torch.tensor([0.5, 2.0])
    assert losses.ebgan_d_loss(real, fake, margin=1.0).item() == pytest.approx(0.45)
    assert losses.ebgan_d_loss(real, fake, margin=3.0).item() == pytest.approx(0.2 + (2.5 + 1.0) / 2)
    assert losses.ebgan_g_loss(fake).item() == pytest.approx(1.25)
    model = get_variant("ebgan")(data_shape=(2,), margin=1.0)
    crit = lambda e: Critique(torch.zeros(2, 2), e, torch.zeros(2, 4))   # noqa: E731
    assert model.d_loss(crit(real), crit(fake)).item() == pytest.approx(0.45)
    assert model.score_is_logit is False


def test_pulling_away_term_for_orthogonal_and_identical_codes():
    assert losses.pulling_away_term(torch.eye(4) * 3.0).item() == pytest.approx(0.0, abs=1e-7)
    assert losses.pulling_away_term(torch.tensor([[1.0, 2.0]]).repeat(5, 1)).item() == pytest.approx(1.0)
    # two codes at 60°: cos² = 1/4 for both ordered pairs -> 1/4
    s = torch.tensor([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    assert losses.pulling_away_term(s).item() == pytest.approx(0.25)


@pytest.mark.parametrize("arch, shape", [("mlp", (2,)), ("mlp", (1, 8, 8)), ("dcgan", (1, 8, 8)), ("dcgan", (3, 32, 32))])
def test_ebgan_autoencoder_energy_is_the_mean_squared_reconstruction_error(arch, shape):
    torch.manual_seed(0)
    model = get_variant("ebgan")(data_shape=shape, data_kind="points" if len(shape) == 1 else "image", arch=arch,
                                 width=8, hidden=16, code_dim=5, pt_weight=0.1)
    disc = model.discriminators[0]
    x = torch.rand(6, *shape) * 2 - 1
    energy, code = disc(x)
    recon = disc.decoder(disc.encoder(x)).view_as(x)
    torch.testing.assert_close(energy, (x - recon).pow(2).flatten(1).mean(1))
    assert energy.shape == (6,) and code.shape == (6, 5) and (energy >= 0).all()
    # the generator loss adds the pulling-away term on the codes
    fake = Critique(x, energy, code)
    expected = energy.mean() + 0.1 * losses.pulling_away_term(code)
    assert model.g_loss(fake, None).item() == pytest.approx(expected.item(), rel=1e-6)


def test_ebgan_rejects_what_an_autoencoder_cannot_do():
    with pytest.raises(ConfigError, match="minibatch"):
        get_variant("ebgan")(data_shape=(2,), minibatch_kernels=4)
    with pytest.raises(ConfigError, match="margin"):
        get_variant("ebgan")(data_shape=(2,), margin=0.0)


# ----------------------------------------------------------------------------------- ratio matching
def test_ulsif_minimiser_is_the_density_ratio():
    # ½ Σ q r² - Σ p r is a convex quadratic in the per-atom ratios r, stationary exactly at r = p/q
    r = torch.tensor(P / Q, requires_grad=True)
    loss = losses.ulsif_ratio_loss(as_samples_t(r, P_COUNTS), as_samples_t(r, Q_COUNTS))
    (grad,) = torch.autograd.grad(loss, r)
    assert grad.abs().max().item() < 1e-12
    # at the optimum the loss is -½ E_q[r*²] = -½ Σ p²/q; any other ratio is worse
    assert loss.item() == pytest.approx(-0.5 * np.sum(P ** 2 / Q))
    for delta in ([0.1, 0, 0], [0, -0.2, 0.1]):
        other = r.detach() + torch.tensor(delta, dtype=torch.float64)
        assert losses.ulsif_ratio_loss(as_samples_t(other, P_COUNTS), as_samples_t(other, Q_COUNTS)).item() > loss.item()


def as_samples_t(values: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    return torch.repeat_interleave(values, torch.tensor(counts))


def test_ratio_generator_loss_is_zero_at_ratio_one_and_ratio_is_non_negative():
    assert losses.ratio_g_loss(torch.ones(5)).item() == pytest.approx(0.0, abs=1e-5)
    assert losses.ratio_g_loss(torch.full((5,), 0.5)).item() == pytest.approx(math.log(2), rel=1e-4)
    assert (losses.ratio_from_score(torch.tensor([-50.0, 0.0, 50.0])) >= 0).all()
    model = get_variant("ratio_matching")(data_shape=(2,))
    s = torch.tensor([0.0, 1.0])
    c = Critique(torch.zeros(2, 2), s, torch.zeros(2, 3))
    r = torch.nn.functional.softplus(s)
    assert model.d_loss(c, c).item() == pytest.approx((0.5 * r.pow(2).mean() - r.mean()).item())


# ----------------------------------------------------------------------------------- minimax prior π
@pytest.mark.parametrize("pi", [0.2, 0.5, 0.8])
def test_minimax_optimal_logit_is_the_prior_weighted_log_ratio(pi):
    # for fixed p*, pθ the D loss is minimised per atom at logit = log(π p* / ((1-π) pθ))
    model = get_variant("minimax")(data_shape=(2,), pi=pi)
    logits = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([logits], max_iter=200, tolerance_grad=1e-12, tolerance_change=1e-14)

    def closure():
        opt.zero_grad()
        real, fake = as_samples_t(logits, P_COUNTS), as_samples_t(logits, Q_COUNTS)
        loss = model.d_loss(Critique(real[:, None], real, real[:, None]), Critique(fake[:, None], fake, fake[:, None]))
        loss.backward()
        return loss

    opt.step(closure)
    np.testing.assert_allclose(logits.detach().numpy(), np.log(pi * P / ((1 - pi) * Q)), atol=1e-6)
    with pytest.raises(ConfigError, match="pi"):
        get_variant("minimax")(data_shape=(2,), pi=1.0)


def test_course_variants_are_registered():
    assert set(COURSE) <= set(VARIANTS)
    assert VARIANTS["gmmn"].has_discriminator is False
    assert VARIANTS["mmdgan"].g_needs_real is True
    assert not any(VARIANTS[n].score_is_logit for n in COURSE if n != "gmmn")
