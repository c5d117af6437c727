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
LOG2 = math.log(2.0)
DIVERGENCES = ("kl", "reverse_kl", "pearson", "squared_hellinger", "js", "gan", "total_variation", "neyman", "jeffrey",
               "alpha")
A = 1.5                                                     # the registered α row

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
            "jeffrey": float(np.sum((P - Q) * np.log(P / Q))),
            # α-divergence: (Σ p^α q^(1-α) - 1) / (α(α - 1)), the Σ q (u - 1) term being 0
            "alpha": float((np.sum(P ** A * Q ** (1 - A)) - 1) / (A * (A - 1)))}[name]


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
    if name == "alpha":                                      # g = 1/(1-α) + softplus(v), f' = (u^(α-1) - 1)/(α-1)
        return np.log(np.expm1(u ** (A - 1) / (A - 1)))     # -> softplus(v) = u^(α-1)/(α-1)
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


@pytest.mark.parametrize("alpha, other, scale", [(2.0, "pearson", 0.5), (0.5, "squared_hellinger", 2.0),
                                                 (-1.0, "neyman", 0.5)])
def test_alpha_divergence_reduces_to_the_named_rows(alpha, other, scale):
    # α = 2: ½ Pearson χ²; α = ½: 2·squared Hellinger; α = -1: ½ Neyman χ² (f and its conjugate's FY pair)
    div, ref = losses.alpha_divergence(alpha), losses.F_DIVERGENCES[other]
    u = torch.tensor([0.1, 0.5, 1.0, 2.0, 7.0], dtype=torch.float64)
    torch.testing.assert_close(div.f(u), scale * ref.f(u))
    torch.testing.assert_close(div.optimal_t(u), scale * ref.optimal_t(u))
    t = div.optimal_t(u)
    torch.testing.assert_close(div.f(u) + div.conjugate(t), u * t)
    v = torch.linspace(-4, 4, 9, dtype=torch.float64)
    torch.testing.assert_close(div.fake_term(v), div.conjugate(div.activation(v)))
    with pytest.raises(ValueError, match="alpha"):
        losses.alpha_divergence(1.0)


def test_fgan_alpha_option_picks_the_row():
    v = torch.tensor([-1.0, 0.5, 2.0], dtype=torch.float64)
    crit = Critique(v[:, None], v, v[:, None])
    model = get_variant("fgan")(data_shape=(2,), divergence="alpha", alpha=2.0)
    half_pearson = losses.F_DIVERGENCES["pearson"]            # α = 2 is ½ Pearson: same bound at V ↦ g_f(V)
    expected = -(model.divergence.activation(v).mean() - model.divergence.fake_term(v).mean())
    assert model.d_loss(crit, crit).item() == pytest.approx(expected.item())
    t = model.divergence.activation(v)                        # a T in both domains: 0.5·(Pearson bound at 2T)
    pearson = (2 * t).mean() - half_pearson.conjugate(2 * t).mean()
    assert (t.mean() - model.divergence.conjugate(t).mean()).item() == pytest.approx(0.5 * pearson.item())
    with pytest.raises(ConfigError, match="alpha"):
        get_variant("fgan")(data_shape=(2,), divergence="alpha", alpha=1.0)


@pytest.mark.parametrize("name", ["js", "gan"])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_js_and_gan_optimal_t_and_conjugate_stay_finite_at_extreme_ratios(name, dtype):
    # at p/q = 1e20 the naive forms gave f*(f'(u)) = -log(2 - 2) = inf (JS) and -log(1 - 1) = inf (GAN)
    div = losses.F_DIVERGENCES[name]
    u = torch.tensor([1e-20, 1e-8, 1e16, 1e20, 1e30], dtype=dtype)
    t = div.optimal_t(u)
    ft = div.conjugate(t)
    assert torch.isfinite(t).all() and torch.isfinite(ft).all(), (t, ft)
    bound = LOG2 if name == "js" else 0.0                       # dom f* is t < log 2 (JS), t < 0 (GAN)
    assert (t < bound).all()
    # the hand values in float64: t* = log(2u/(1+u)) = log 2 - log1p(1/u) (JS), -log1p(1/u) (GAN)
    un = u.double().numpy()
    t_hand = (math.log(2) if name == "js" else 0.0) - np.log1p(1 / un)
    np.testing.assert_allclose(t.double().numpy(), t_hand, rtol=1e-6, atol=1e-15 if dtype == torch.float64 else 1e-7)
    # Fenchel–Young f(u) + f*(t) = u t, relative to the size of u t (which is all the digits t has at 1e20),
    # in double precision from t of the tested precision (float32's t is off t* by up to its own rounding)
    u64, t64 = u.double(), t.double()
    lhs, rhs = div.f(u64) + div.conjugate(t64), u64 * t64
    rel = 1e-9 if dtype == torch.float64 else 1e-6
    assert torch.all((lhs - rhs).abs() <= rel * (1 + rhs.abs())), (lhs, rhs)
    if name == "gan":                                           # t = -1/u is representable: f* exactly log(1 + u)
        torch.testing.assert_close(div.conjugate(div.optimal_t(u64)), torch.log1p(u64), rtol=1e-12, atol=1e-12)


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
    # the variant: -mean g_f(V(G(z))) (KL: g_f = identity) or, saddle, -mean f*(g_f(V)) = -mean exp(V - 1)
    crit = Critique(v[:, None], v, v[:, None])
    assert get_variant("fgan")(data_shape=(2,), divergence="kl").g_loss(crit, None).item() == pytest.approx(-1 / 3)
    saddle = get_variant("fgan")(data_shape=(2,), divergence="kl", g_objective="saddle")
    assert saddle.g_loss(crit, None).item() == pytest.approx(-(math.exp(-2) + math.exp(-1) + math.exp(1)) / 3)
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


def hand_bandwidths(sigma_min: float, sigma_max: float, n: int, dim: int) -> list[float]:
    """The RBF ladder written out: n bandwidths from sigma_min to sigma_max with a constant ratio, × √(dim/2)."""
    ratio = (sigma_max / sigma_min) ** (1 / (n - 1))
    return [sigma_min * ratio ** k * math.sqrt(dim / 2) for k in range(n)]


def test_gmmn_generator_loss_is_the_unbiased_mmd2_of_the_flattened_batches():
    # the gmmn objective against the double loop with the bandwidth ladder computed by hand
    model = get_variant("gmmn")(data_shape=(1, 2, 2), data_kind="image", sigma_min=0.5, sigma_max=2.0,
                                num_bandwidths=3)
    assert not model.discriminators and model.has_discriminator is False
    g = torch.Generator().manual_seed(0)
    xf, xr = torch.rand(6, 1, 2, 2, generator=g, dtype=torch.float64), torch.rand(5, 1, 2, 2, generator=g, dtype=torch.float64)
    fake, real = Critique(xf, None, xf.flatten(1)), Critique(xr, None, xr.flatten(1) + 0.5)
    sigmas = hand_bandwidths(0.5, 2.0, 3, 4)
    assert sigmas == pytest.approx([0.5 * math.sqrt(2), math.sqrt(2), 2 * math.sqrt(2)])
    expected = mmd2_loop(xr.flatten(1).numpy() + 0.5, xf.flatten(1).numpy(), sigmas)
    assert model.g_loss(fake, real).item() == pytest.approx(expected, rel=1e-10)
    assert expected > 0.05                                       # a shifted batch: a loss that can be told apart


def rbf_sum(a: np.ndarray, b: np.ndarray, sigmas) -> float:
    return sum(math.exp(-float(np.sum((a - b) ** 2)) / (2 * s * s)) for s in sigmas)


def test_mmdgan_losses_and_witness_penalty_against_a_hand_computation():
    torch.manual_seed(0)
    model = get_variant("mmdgan")(data_shape=(2,), hidden=6, depth=1).double()
    disc = model.discriminators[0]
    real_x = torch.randn(5, 2, dtype=torch.float64)
    fake_x = torch.randn(5, 2, dtype=torch.float64) + 1.0
    phi = lambda x: disc(torch.as_tensor(x, dtype=torch.float64).view(-1, 2))[1].detach().numpy()   # noqa: E731
    f_real, f_fake = phi(real_x.numpy()), phi(fake_x.numpy())
    c = model.cfg
    sigmas = hand_bandwidths(c.sigma_min, c.sigma_max, c.num_bandwidths, f_real.shape[1])
    mmd2 = mmd2_loop(f_real, f_fake, sigmas)
    crit = lambda x, f: Critique(x, torch.zeros(5, dtype=torch.float64), torch.as_tensor(f))   # noqa: E731
    # the critic maximises MMD² of the features (its loss is -MMD²), the generator minimises it
    assert model.d_loss(crit(real_x, f_real), crit(fake_x, f_fake)).item() == pytest.approx(-mmd2, rel=1e-9)
    assert model.g_loss(crit(fake_x, f_fake), crit(real_x, f_real)).item() == pytest.approx(mmd2, rel=1e-9)
    assert abs(mmd2) > 1e-3                                      # not a degenerate 0 = -0

    # penalty: λ mean_i (‖∇_x w(x̂_i)‖ - 1)² of the witness w(x) = mean_j k(φ(x), φ(x_j)) - mean_j k(φ(x), φ(x̃_j))
    # at x̂_i = ε_i x_i + (1 - ε_i) x̃_i, the gradient by central differences
    def witness(x: np.ndarray) -> float:
        f = phi(x)[0]
        return (np.mean([rbf_sum(f, r, sigmas) for r in f_real]) - np.mean([rbf_sum(f, q, sigmas) for q in f_fake]))

    torch.manual_seed(3)
    gp = model.d_penalty(disc, real_x, fake_x, None)
    torch.manual_seed(3)
    eps = torch.rand(5, 1, dtype=torch.float64).numpy()                 # the ε the penalty drew
    x_hat = eps * real_x.numpy() + (1 - eps) * fake_x.numpy()
    h, terms = 1e-6, []
    for x in x_hat:
        grad = [(witness(x + h * e) - witness(x - h * e)) / (2 * h) for e in np.eye(2)]
        terms.append((np.linalg.norm(grad) - 1) ** 2)
    assert gp.item() == pytest.approx(c.gp_weight * np.mean(terms), rel=1e-6)
    assert gp.requires_grad

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


def test_ebgan_autoencoder_energy_and_generator_loss_by_hand():
    # a hand-set linear autoencoder: encoder c = Wx, decoder x' = Vc, so E(x) = mean_d (x - VWx)²_d,
    # and the generator loss adds λ_PT·PT(codes) written out over the pairs
    model = get_variant("ebgan")(data_shape=(2,), hidden=4, depth=1, code_dim=2, pulling_away=True)
    assert model.cfg.pt_weight == 0.1                 # Zhao et al.'s λ_PT
    disc = model.discriminators[0]
    W, V = np.array([[1.0, 2.0], [0.0, -1.0]]), np.array([[0.5, 0.0], [1.0, 1.0]])
    disc.encoder = torch.nn.Linear(2, 2, bias=False).double()
    disc.decoder = torch.nn.Linear(2, 2, bias=False).double()
    with torch.no_grad():
        disc.encoder.weight.copy_(torch.tensor(W))
        disc.decoder.weight.copy_(torch.tensor(V))
    x = np.array([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])
    energy, code = disc(torch.tensor(x))
    codes = x @ W.T
    recon = codes @ V.T
    hand = ((x - recon) ** 2).mean(1)                # (1, 0) -> c = (1, 0), x' = (0.5, 1): E = (0.25 + 1)/2
    assert hand[0] == pytest.approx(0.625)
    np.testing.assert_allclose(energy.detach().numpy(), hand, rtol=1e-12)
    np.testing.assert_allclose(code.detach().numpy(), codes, rtol=1e-12)
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    pt = np.mean([(unit[i] @ unit[j]) ** 2 for i in range(3) for j in range(3) if i != j])
    g = model.g_loss(Critique(torch.tensor(x), energy, code), None)
    assert g.item() == pytest.approx(hand.mean() + 0.1 * pt, rel=1e-10)
    plain = get_variant("ebgan")(data_shape=(2,), hidden=4, depth=1, code_dim=2)     # the paper's plain EBGAN
    assert not plain.cfg.pulling_away
    assert plain.g_loss(Critique(torch.tensor(x), energy, code), None).item() == pytest.approx(hand.mean(), rel=1e-10)


@pytest.mark.parametrize("arch, shape", [("mlp", (1, 8, 8)), ("dcgan", (1, 8, 8)), ("dcgan", (3, 32, 32))])
def test_ebgan_energy_is_zero_for_a_perfect_reconstruction_and_grows_with_the_error(arch, shape):
    # any architecture: replacing the decoder's output by x + δ gives E = mean δ², whatever the network
    torch.manual_seed(0)
    model = get_variant("ebgan")(data_shape=shape, data_kind="image", arch=arch, width=8, hidden=16, code_dim=5)
    disc = model.discriminators[0]
    x = torch.rand(4, *shape) * 2 - 1
    _, code = disc(x)
    assert code.shape == (4, 5)

    class Shifted(torch.nn.Module):
        def __init__(self, delta):
            super().__init__()
            self.delta = delta

        def forward(self, c):
            return (x + self.delta).flatten(1)

    for delta, expected in ((0.0, 0.0), (0.5, 0.25), (-2.0, 4.0)):
        disc.decoder = Shifted(delta)
        energy, _ = disc(x)
        torch.testing.assert_close(energy, torch.full((4,), expected))


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


@pytest.mark.parametrize("kind, power", [("squared", 1.0), ("kl", 1.0), ("logistic", 1.0), ("power", 0.5),
                                         ("power", 2.0)])
def test_bregman_ratio_fits_are_minimised_at_the_density_ratio(kind, power):
    # BR_f(r*‖r) ≥ 0 with equality iff r = r*: on three atoms the per-atom gradient vanishes at r = p/q and
    # any other ratio has a larger loss
    loss_fn = losses.BREGMAN_RATIO_LOSSES[kind]
    r = torch.tensor(P / Q, requires_grad=True)
    loss = loss_fn(as_samples_t(r, P_COUNTS), as_samples_t(r, Q_COUNTS), power)
    (grad,) = torch.autograd.grad(loss, r)
    assert grad.abs().max().item() < 1e-12
    for delta in ([0.1, 0, 0], [0, -0.2, 0.1], [-0.3, 0.2, 0.05]):
        other = r.detach() + torch.tensor(delta, dtype=torch.float64)
        assert loss_fn(as_samples_t(other, P_COUNTS), as_samples_t(other, Q_COUNTS), power).item() > loss.item()


def test_bregman_ratio_losses_at_hand_computed_values():
    # r on p* = (1, 2), on pθ = (0.5, 4)
    real, fake = torch.tensor([1.0, 2.0], dtype=torch.float64), torch.tensor([0.5, 4.0], dtype=torch.float64)
    by = losses.BREGMAN_RATIO_LOSSES
    assert by["squared"](real, fake).item() == pytest.approx(0.5 * (0.25 + 16) / 2 - 1.5)
    assert by["kl"](real, fake).item() == pytest.approx(2.25 - math.log(2) / 2)
    logistic = (math.log(1.5) + math.log(5)) / 2 + (math.log(2) + math.log(1.5)) / 2
    assert by["logistic"](real, fake).item() == pytest.approx(logistic)
    assert by["power"](real, fake, 2.0).item() == pytest.approx((0.125 + 64) / 2 - 1.5 * (1 + 4) / 2)
    # α = 1 of the BR family is twice uLSIF; logistic at r = e^l is twice the GAN discriminator's loss (π = ½)
    assert by["power"](real, fake, 1.0).item() == pytest.approx(2 * by["squared"](real, fake).item())
    assert by["logistic"](real, fake).item() == pytest.approx(
        2 * losses.minimax_d_loss(real.log(), fake.log(), 0.5).item())


@pytest.mark.parametrize("kind", ["squared", "kl", "logistic", "power"])
def test_ratio_matching_fits_with_the_chosen_bregman_divergence(kind):
    model = get_variant("ratio_matching")(data_shape=(2,), bregman=kind, power=0.5)
    s_real, s_fake = torch.tensor([0.3, 1.0], dtype=torch.float64), torch.tensor([-1.0, 2.0], dtype=torch.float64)
    crit = lambda s: Critique(torch.zeros(2, 2), s, torch.zeros(2, 3))   # noqa: E731
    r_real, r_fake = torch.nn.functional.softplus(s_real), torch.nn.functional.softplus(s_fake)
    expected = losses.BREGMAN_RATIO_LOSSES[kind](r_real, r_fake, 0.5)
    assert model.d_loss(crit(s_real), crit(s_fake)).item() == pytest.approx(expected.item())
    with pytest.raises(ConfigError, match="power"):
        get_variant("ratio_matching")(data_shape=(2,), bregman="power", power=0.0)


def as_samples_t(values: torch.Tensor, counts: np.ndarray) -> torch.Tensor:
    return torch.repeat_interleave(values, torch.tensor(counts))


def test_ratio_matching_losses_at_hand_computed_values():
    # scores V = (0, 1, -2): r = softplus(V) = (log 2, log(1 + e), log(1 + e⁻²)) by hand
    v = torch.tensor([0.0, 1.0, -2.0], dtype=torch.float64)
    r = np.array([math.log(2), math.log(1 + math.e), math.log(1 + math.exp(-2))])
    np.testing.assert_allclose(losses.ratio_from_score(v).numpy(), r, rtol=1e-12)
    assert (losses.ratio_from_score(torch.tensor([-50.0, 0.0, 50.0])) >= 0).all()
    model = get_variant("ratio_matching")(data_shape=(2,))
    crit = lambda s: Critique(torch.zeros(len(s), 2), s, torch.zeros(len(s), 3))   # noqa: E731
    real, fake = torch.tensor([1.0, -2.0], dtype=torch.float64), v
    r_real = np.array([math.log(1 + math.e), math.log(1 + math.exp(-2))])
    # uLSIF: ½ mean over pθ of r² - mean over p* of r
    assert model.d_loss(crit(real), crit(fake)).item() == pytest.approx(0.5 * np.mean(r ** 2) - np.mean(r_real), rel=1e-9)
    # generator: mean -log r on its samples, 0 at r ≡ 1 and log 2 at r ≡ ½
    assert model.g_loss(crit(fake), None).item() == pytest.approx(-np.mean(np.log(r)), rel=1e-5)
    assert losses.ratio_g_loss(torch.ones(5)).item() == pytest.approx(0.0, abs=1e-5)
    assert losses.ratio_g_loss(torch.full((5,), 0.5)).item() == pytest.approx(math.log(2), rel=1e-4)


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
