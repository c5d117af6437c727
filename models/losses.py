"""GAN objectives as small pure functions of discriminator outputs.

Conventions: ``real`` / ``fake`` are the discriminator's raw outputs on real data x ~ p* and on generated
samples G(z) ~ pθ, shape ``(B,)``. "Logits" are pre-sigmoid scores, D(x) = σ(logit). Every loss is *minimised*
by the network it trains. Seeds: ``shared/seeds/000`` (class-probability view, f-divergences, moment and ratio
matching), ``001`` (minimax game), ``002`` (tricks, EBGAN, WGAN), ``003`` (optimal discriminator, JSD).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor


# ------------------------------------------------------------------ class-probability estimation (seed 000)
def minimax_d_loss(real: Tensor, fake: Tensor, pi: float = 0.5) -> Tensor:
    # seed 000: L = π E_p*[-log D(x)] + (1-π) E_p(z)[-log(1 - D(G(z)))], with -log σ(l) = softplus(-l)
    return pi * F.softplus(-real).mean() + (1.0 - pi) * F.softplus(fake).mean()


def minimax_g_loss(fake: Tensor) -> Tensor:
    # seed 000/002: min_θ E_p(z)[log(1 - D(G(z)))] — the saturating loss, log(1 - σ(l)) = -softplus(l)
    return -F.softplus(fake).mean()


def nonsaturating_g_loss(fake: Tensor) -> Tensor:
    # seed 001 (learning algorithm): max_θ E log D(G(z))  <=>  min -E log σ(l) = E softplus(-l)
    return F.softplus(-fake).mean()


# ------------------------------------------------------------------------------------- least squares
def lsgan_d_loss(real: Tensor, fake: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    # Mao et al. 2017 eq. (2): ½E[(D(x) - b)²] + ½E[(D(G(z)) - a)²]
    return 0.5 * (real - b).pow(2).mean() + 0.5 * (fake - a).pow(2).mean()


def lsgan_g_loss(fake: Tensor, c: float = 1.0) -> Tensor:
    # Mao et al. 2017 eq. (2): ½E[(D(G(z)) - c)²]
    return 0.5 * (fake - c).pow(2).mean()


# ----------------------------------------------------------------------------------------- Wasserstein
def wasserstein_estimate(real: Tensor, fake: Tensor) -> Tensor:
    # seed 002: W(P, Q) = sup_{‖f‖_L ≤ 1} E_data f(x) - E_z f(g(z))
    return real.mean() - fake.mean()


def wgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    # seed 002, Algorithm 2: the critic ascends E f(x) - E f(G(z))
    return -wasserstein_estimate(real, fake)


def wgan_g_loss(fake: Tensor) -> Tensor:
    # seed 002, Algorithm 2: the generator descends -E f(G(z))
    return -fake.mean()


def gradient_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, fake: Tensor, weight: float = 10.0) -> Tensor:
    """Gulrajani et al. 2017 eq. (3): λ E[(‖∇_x̂ f(x̂)‖₂ - 1)²], x̂ = εx + (1-ε)x̃, ε ~ U[0, 1] per sample.

    ``critic`` maps a batch to scores ``(B,)``; the graph is kept (``create_graph=True``) so the penalty
    trains the critic.
    """
    eps = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
    x_hat = eps * real + (1 - eps) * fake
    grad = input_gradient(critic, x_hat)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1).pow(2).mean()


def input_gradient(f: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """∇_x Σ_i f(x)_i, differentiable again (the graph is kept, as ``create_graph=True``).

    ``torch.autograd.grad`` in a single run; ``torch.func.grad`` inside a ``torch.func`` transform (a member of
    :class:`models.population.GANPopulation` under ``vmap``), where ``torch.autograd.grad`` cannot run. Both
    compute the same backward. A penalty that needs ∇_x should call this, not ``torch.autograd.grad``.
    """
    if torch._C._functorch.maybe_current_level() is not None:         # inside vmap/grad
        return torch.func.grad(lambda v: f(v).sum())(x)
    x = x.detach().requires_grad_(True) if not x.requires_grad else x
    (grad,) = torch.autograd.grad(f(x).sum(), x, create_graph=True)
    return grad


# ----------------------------------------------------------------------------------------------- hinge
def hinge_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    # Lim & Ye 2017 / Miyato et al. 2018: E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))]
    return F.relu(1.0 - real).mean() + F.relu(1.0 + fake).mean()


def hinge_g_loss(fake: Tensor) -> Tensor:
    # Miyato et al. 2018: -E D(G(z))
    return -fake.mean()


# ------------------------------------------------------------------------------------------- EBGAN
def ebgan_d_loss(real_energy: Tensor, fake_energy: Tensor, margin: float) -> Tensor:
    # seed 002: L_f = E_data E(x) + E_z [m - E(g(z))]_+
    return real_energy.mean() + F.relu(margin - fake_energy).mean()


def ebgan_g_loss(fake_energy: Tensor) -> Tensor:
    # seed 002: L_g = E_z E(g(z))
    return fake_energy.mean()


def pulling_away_term(s: Tensor) -> Tensor:
    # Zhao et al. 2017 eq. (6): PT = 1/(N(N-1)) Σ_{i≠j} (S_iᵀS_j / (‖S_i‖‖S_j‖))²
    n = s.shape[0]
    s = F.normalize(s.flatten(1), dim=1)
    cos2 = (s @ s.t()).pow(2)
    return (cos2.sum() - cos2.diagonal().sum()) / (n * (n - 1))


# ----------------------------------------------------------------------------- f-divergences (seed 000)
@dataclass(frozen=True)
class FDivergence:
    """One row of Nowozin et al. 2016, Table 2: D_f(P‖Q) = ∫ q f(p/q) ≥ sup_T E_P[T] - E_Q[f*(T)], T = g_f(V).

    ``f`` is the generator function, ``activation`` g_f maps the critic's raw output V into dom f*, and
    ``conjugate`` is the Fenchel conjugate f*(t) = sup_u {ut - f(u)}. ``optimal_t(u)`` = f'(u) is the optimal
    T at density ratio u = p/q.
    """

    name: str
    f: Callable[[Tensor], Tensor]
    activation: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    optimal_t: Callable[[Tensor], Tensor]
    # f*(g_f(v)) simplified by hand so it stays finite where the composition overflows or cancels
    # (e.g. GAN: -log(1 - exp(-softplus(-v))) = softplus(v)); None = compose ``conjugate`` and ``activation``
    conjugate_of_activation: Callable[[Tensor], Tensor] | None = None

    def fake_term(self, v: Tensor) -> Tensor:
        """f*(g_f(v)), the per-sample term the bound subtracts on Q."""
        if self.conjugate_of_activation is not None:
            return self.conjugate_of_activation(v)
        return self.conjugate(self.activation(v))


LOG2 = math.log(2.0)


def lambert_w_of_exp(s: Tensor, steps: int = 60) -> Tensor:
    """W(e^s), the w > 0 with w + log w = s, by Newton's method on l = log w: g(l) = e^l + l - s is convex and
    increasing and both starts (l = s for s < 1, l = log s otherwise) lie right of the root, so the iterates
    decrease monotonically to it; computed in log space, e^s never overflows."""
    l = torch.where(s < 1, s, torch.log(s.clamp(min=1)))
    for _ in range(steps):
        l = l - (torch.exp(l) + l - s) / (torch.exp(l) + 1)
    return torch.exp(l)


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    # f(u) = (u - 1) log u: the sup of ut - f(u) is at 1/u = w with w + log w = 1 - t
    w = lambert_w_of_exp(1 - t)
    return w + 1 / w + t - 2
def _js_conjugate(t: Tensor) -> Tensor:
    # f*(t) = -log(2 - e^t) = -log 2 - log(1 - e^{t - log 2}), with expm1 so t just below log 2 keeps its digits
    return -LOG2 - torch.log(-torch.expm1(t - LOG2))


def _js_optimal_t(u: Tensor) -> Tensor:
    # f'(u) = log(2u / (1 + u)) = log 2 - softplus(-log u): no overflow of 2u or 0/0 at huge u. For u ≳ 1e16 the
    # exact t* = log 2 - log(1 + 1/u) rounds to log 2, the edge of dom f* where f* = +inf; the largest float
    # below log 2 is returned instead, so f*(t) stays finite and f(u) + f*(t) = u t holds to the precision of u t
    t = LOG2 - F.softplus(-torch.log(u))
    edge = torch.nextafter(torch.full_like(t, LOG2), torch.zeros_like(t))
    return torch.minimum(t, edge)


def alpha_divergence(alpha: float) -> FDivergence:
    """Nowozin et al.'s α-divergence row (Table 6; α ∉ {0, 1}): f(u) = (u^α - 1 - α(u - 1)) / (α(α - 1)),
    f'(u) = (u^{α-1} - 1)/(α - 1), f*(t) = ((1 + (α - 1)t)^{α/(α-1)} - 1)/α on 1 + (α - 1)t > 0.

    dom f* is t < 1/(1 - α) for α < 1 and t > 1/(1 - α) for α > 1; the activation maps V onto it with a
    softplus s: g_f(v) = 1/(1 - α) - softplus(-v) (α < 1, Nowozin et al.'s) or 1/(1 - α) + softplus(v) (α > 1),
    so 1 + (α - 1)g_f(v) = |α - 1|·s and f*(g_f(v)) = ((|α - 1| s)^{α/(α-1)} - 1)/α stays finite.
    α = 2 gives ½ Pearson χ², α = ½ twice the squared Hellinger, α = -1 ½ Neyman χ².
    """
    if alpha in (0.0, 1.0):
        raise ValueError(f"alpha={alpha}: the α-divergence needs α not in {{0, 1}} (their limits are the KL rows)")
    a, c = float(alpha), 1.0 / (1.0 - alpha)
    power = a / (a - 1.0)

    def s(v: Tensor) -> Tensor:
        return F.softplus(v) if a > 1 else F.softplus(-v)

    def conjugate(t: Tensor) -> Tensor:
        base = 1 + (a - 1) * t
        safe = torch.where(base > 0, base, torch.ones_like(base))
        return torch.where(base > 0, (safe ** power - 1) / a, torch.full_like(t, math.inf))

    return FDivergence(
        f"alpha={a:g}", lambda u: (u ** a - 1 - a * (u - 1)) / (a * (a - 1)),
        (lambda v: c + F.softplus(v)) if a > 1 else (lambda v: c - F.softplus(-v)),
        conjugate, lambda u: (u ** (a - 1) - 1) / (a - 1),
        lambda v: ((abs(a - 1) * s(v)) ** power - 1) / a)


ALPHA = 1.5          # the α of the registered "alpha" row (fgan's ``alpha`` option picks another)


F_DIVERGENCES: dict[str, FDivergence] = {
    d.name: d for d in (
        FDivergence("kl", lambda u: u * torch.log(u), lambda v: v,
                    lambda t: torch.exp(t - 1), lambda u: 1 + torch.log(u), lambda v: torch.exp(v - 1)),
        FDivergence("reverse_kl", lambda u: -torch.log(u), lambda v: -torch.exp(-v),
                    lambda t: -1 - torch.log(-t), lambda u: -1 / u, lambda v: v - 1),
        FDivergence("pearson", lambda u: (u - 1) ** 2, lambda v: v,
                    lambda t: 0.25 * t ** 2 + t, lambda u: 2 * (u - 1), lambda v: 0.25 * v ** 2 + v),
        FDivergence("squared_hellinger", lambda u: (torch.sqrt(u) - 1) ** 2, lambda v: 1 - torch.exp(-v),
                    lambda t: t / (1 - t), lambda u: 1 - 1 / torch.sqrt(u), torch.expm1),
        # Nowozin et al.'s Jensen-Shannon row: with this f, D_f = 2·JSD(P‖Q)
        # f(u) = -(u + 1) log((1 + u)/2) + u log u, written as u(log 2 - log1p(1/u)) + log 2 - log1p(u) so that
        # the two u log u-sized terms do not cancel at large u
        FDivergence("js", lambda u: u * (LOG2 - torch.log1p(1 / u)) + LOG2 - torch.log1p(u),
                    lambda v: LOG2 - F.softplus(-v), _js_conjugate, _js_optimal_t, lambda v: F.softplus(v) - LOG2),
        # the "GAN" row: D_f = 2·JSD(P‖Q) - log 4, the value of the original minimax game
        # f(u) = u log u - (u + 1) log(u + 1) = -u log1p(1/u) - log1p(u) (no cancellation at large u)
        FDivergence("gan", lambda u: -u * torch.log1p(1 / u) - torch.log1p(u), lambda v: -F.softplus(-v),
                    lambda t: -torch.log(-torch.expm1(t)), lambda u: -F.softplus(-torch.log(u)), F.softplus),
        # Nowozin et al.'s total-variation row: D_f = ½ Σ|p - q|; f* is the identity on dom f* = [-½, ½]
        FDivergence("total_variation", lambda u: 0.5 * (u - 1).abs(), lambda v: 0.5 * torch.tanh(v),
                    lambda t: torch.where(t.abs() <= 0.5, t, torch.full_like(t, math.inf)),
                    lambda u: 0.5 * torch.sign(u - 1), lambda v: 0.5 * torch.tanh(v)),
        # Neyman χ²: D_f = ∫ (q - p)²/p; f*(t) = 2 - 2√(1 - t) on t < 1, and f*(1 - e^v) = 2 - 2e^{v/2}
        FDivergence("neyman", lambda u: (1 - u) ** 2 / u, lambda v: 1 - torch.exp(v),
                    lambda t: 2 - 2 * torch.sqrt(1 - t), lambda u: 1 - u ** -2, lambda v: 2 - 2 * torch.exp(v / 2)),
        # Jeffrey (symmetrised KL): D_f = ∫ (p - q) log(p/q); f*(t) = W(e^{1-t}) + 1/W(e^{1-t}) + t - 2 with
        # Lambert's W (Nowozin et al., Table 6)
        FDivergence("jeffrey", lambda u: (u - 1) * torch.log(u), lambda v: v, _jeffrey_conjugate,
                    lambda u: torch.log(u) + 1 - 1 / u),
    )
}
F_DIVERGENCES["alpha"] = alpha_divergence(ALPHA)       # Nowozin et al. Table 6, at α = 1.5


def fgan_bound(real: Tensor, fake: Tensor, div: FDivergence) -> Tensor:
    # seed 000 / Nowozin et al. eq. (6): F(θ, ω) = E_P[g_f(V(x))] - E_Q[f*(g_f(V(x)))]
    return div.activation(real).mean() - div.fake_term(fake).mean()


def fgan_d_loss(real: Tensor, fake: Tensor, div: FDivergence) -> Tensor:
    # the critic maximises the variational lower bound
    return -fgan_bound(real, fake, div)


def fgan_g_loss(fake: Tensor, div: FDivergence) -> Tensor:
    # Nowozin et al. §3.2: the generator maximises E_Q[g_f(V(G(z)))] (the non-saturating alternative)
    return -div.activation(fake).mean()


def fgan_saddle_g_loss(fake: Tensor, div: FDivergence) -> Tensor:
    # Nowozin et al. eq. (6) as written: the generator minimises F, i.e. -E_Q[f*(g_f(V(G(z))))]
    return -div.fake_term(fake).mean()


# --------------------------------------------------------------------- moment matching / MMD (seed 000)
def geometric_bandwidths(sigma_min: float, sigma_max: float, n: int) -> tuple[float, ...]:
    """``n`` RBF bandwidths spaced geometrically from ``sigma_min`` to ``sigma_max`` (both included)."""
    if n == 1:
        return (float(sigma_min),)
    return tuple(float(sigma_min * (sigma_max / sigma_min) ** (k / (n - 1))) for k in range(n))


def rbf_mixture_kernel(a: Tensor, b: Tensor, bandwidths: tuple[float, ...]) -> Tensor:
    # k(x, y) = Σ_σ exp(-‖x - y‖² / (2σ²)); ‖x - y‖² = ‖x‖² + ‖y‖² - 2xᵀy (no square root: cheaper backward)
    a, b = a.flatten(1), b.flatten(1)
    d2 = (a.pow(2).sum(1)[:, None] + b.pow(2).sum(1)[None, :] - 2 * a @ b.t()).clamp_min(0)
    return sum(torch.exp(d2 * (-0.5 / (s * s))) for s in bandwidths)


def mmd2_unbiased(x: Tensor, y: Tensor, bandwidths: tuple[float, ...]) -> Tensor:
    # Gretton et al. 2012 eq. (3): 1/(m(m-1)) Σ_{i≠j} k(x_i,x_j) + 1/(n(n-1)) Σ_{i≠j} k(y_i,y_j) - 2/(mn) Σ k(x_i,y_j)
    m, n = x.shape[0], y.shape[0]
    kxx, kyy, kxy = (rbf_mixture_kernel(x, x, bandwidths), rbf_mixture_kernel(y, y, bandwidths),
                     rbf_mixture_kernel(x, y, bandwidths))
    return ((kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean())


# ------------------------------------------------------------------------- ratio matching (seed 000)
def ratio_from_score(score: Tensor) -> Tensor:
    """The critic's non-negative density-ratio estimate r_φ(x) = softplus(V(x))."""
    return F.softplus(score)


def ulsif_ratio_loss(real_ratio: Tensor, fake_ratio: Tensor) -> Tensor:
    # seed 000: E_pθ[(r_φ - r*)²] = E_pθ[r_φ²] - 2 E_p*[r_φ] + const (Kanamori et al. 2009, uLSIF); halved
    return 0.5 * fake_ratio.pow(2).mean() - real_ratio.mean()


def _log_ratio(r: Tensor) -> Tensor:
    return torch.log(r.clamp_min(1e-30))


def kl_ratio_loss(real_ratio: Tensor, fake_ratio: Tensor, power: float = 1.0) -> Tensor:
    # f(r) = r log r - r: E_pθ[r] - E_p*[log r] (unnormalised KL; KLIEP's objective)
    return fake_ratio.mean() - _log_ratio(real_ratio).mean()


def logistic_ratio_loss(real_ratio: Tensor, fake_ratio: Tensor, power: float = 1.0) -> Tensor:
    # f(r) = r log r - (1 + r) log(1 + r): E_pθ[log(1 + r)] + E_p*[log(1 + 1/r)] (logistic regression, r = e^logit)
    return torch.log1p(fake_ratio).mean() + (torch.log1p(real_ratio) - _log_ratio(real_ratio)).mean()


def power_ratio_loss(real_ratio: Tensor, fake_ratio: Tensor, power: float = 1.0) -> Tensor:
    # f(r) = (r^{1+α} - r)/α, α = power > 0: E_pθ[r^{1+α}] - (1 + 1/α) E_p*[r^α] (BR family; α = 1: 2·uLSIF)
    return fake_ratio.pow(1 + power).mean() - (1 + 1 / power) * real_ratio.pow(power).mean()


# Ratio matching by a Bregman divergence (Sugiyama et al. 2012; Uehara et al. 2016, Table 1): for a convex f,
# BR_f(r*‖r) = E_pθ[f(r*) - f(r) - f'(r)(r* - r)] = E_pθ[f'(r) r - f(r)] - E_p*[f'(r)] + const (as
# E_pθ[r*·] = E_p*[·]), minimised over r exactly at the density ratio r* = p*/pθ. Each entry maps
# (r_φ on p* samples, r_φ on pθ samples, α of the power family) to that loss.
BREGMAN_RATIO_LOSSES: dict[str, Callable[[Tensor, Tensor, float], Tensor]] = {
    "squared": lambda real, fake, power=1.0: ulsif_ratio_loss(real, fake),   # f(r) = (r - 1)²/2: uLSIF
    "kl": kl_ratio_loss,
    "logistic": logistic_ratio_loss,
    "power": power_ratio_loss,
}


def ratio_g_loss(fake_ratio: Tensor, eps: float = 1e-6) -> Tensor:
    # drive r_φ(G(z)) -> 1 by descending KL(pθ‖p*) ≈ E_pθ[-log r_φ(x)] (≥ 0, = 0 iff r ≡ 1)
    return -torch.log(fake_ratio + eps).mean()


# --------------------------------------------------------------------- relativistic pairing (RpGAN)
def rpgan_d_loss(real: Tensor, fake: Tensor) -> Tensor:
    # Jolicoeur-Martineau 2019 eq. (RpGAN, f = -log σ): E[softplus(D(G(z)) - D(x))], real and fake paired by index
    return F.softplus(fake - real).mean()


def rpgan_g_loss(fake: Tensor, real: Tensor) -> Tensor:
    # Jolicoeur-Martineau 2019: the generator's pairing swapped, E[softplus(D(x) - D(G(z)))]
    return F.softplus(real - fake).mean()


# -------------------------------------------------------------- zero-centred gradient penalties (R1, R2)
def input_grad_sq_norm(score: Tensor, x: Tensor) -> Tensor:
    """‖∇_x D(x)_i‖² per sample, from a score ``(B,)`` already computed from ``x`` (which requires grad); the
    graph is kept (``create_graph=True``) so the penalty trains D. Needs D to score each sample on its own."""
    (grad,) = torch.autograd.grad(score.sum(), x, create_graph=True)
    return input_sq_norm(grad)


def input_sq_norm(grad: Tensor) -> Tensor:
    """‖g_i‖² per sample of a batch of input gradients ``(B, *dims)``."""
    return grad.flatten(1).pow(2).sum(1)


def r1_penalty(real_score: Tensor, real_x: Tensor, gamma: float) -> Tensor:
    # Mescheder et al. 2018 eq. (9): R1 = γ/2 E_p*[‖∇_x D(x)‖²] (on real data; R3GAN's γ/2 form)
    return 0.5 * gamma * input_grad_sq_norm(real_score, real_x).mean()


def r2_penalty(fake_score: Tensor, fake_x: Tensor, gamma: float) -> Tensor:
    # Mescheder et al. 2018 eq. (10): R2 = γ/2 E_pθ[‖∇_x D(x)‖²] (on generated samples)
    return 0.5 * gamma * input_grad_sq_norm(fake_score, fake_x).mean()


def zero_centred_penalty(sq_norm: Tensor, gamma: float) -> Tensor:
    # Mescheder et al. 2018 eq. (9)/(10): γ/2 E[‖∇_x D(x)‖²] from the per-sample ‖∇_x D(x)‖² (population members)
    return 0.5 * gamma * sq_norm.mean()


# ----------------------------------------------------------------------------------------------- DRAGAN
def dragan_perturb(x: Tensor, c: float = 0.5) -> Tensor:
    """Kodali et al. 2017 as implemented by Lucic et al. (compare_gan): x̂ = x + α·c·std(x)·u, u ~ U[0, 1]^d per
    element, α ~ U[0, 1] per sample, std(x) the batch's standard deviation over every element (a device
    tensor: no host sync)."""
    std = x.detach().std()
    u = torch.rand_like(x)
    alpha = torch.rand(x.shape[0], *([1] * (x.dim() - 1)), device=x.device, dtype=x.dtype)
    return x + alpha * (c * std * u)


def dragan_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, weight: float = 10.0, c: float = 0.5) -> Tensor:
    # Kodali et al. 2017 eq. (3)/Lucic et al. Table 1: λ E_{x̂ ~ P_real + δ}[(‖∇_x̂ D(x̂)‖₂ - 1)²]
    x_hat = dragan_perturb(real.detach(), c)
    grad = input_gradient(critic, x_hat)
    return weight * (grad.flatten(1).norm(2, dim=1) - 1.0).pow(2).mean()


# ----------------------------------------------------------------------------------------------- BEGAN
def began_d_loss(real_loss: Tensor, fake_loss: Tensor, k: Tensor | float) -> Tensor:
    # Berthelot et al. 2017 eq. (4): L_D = L(x) - k_t L(G(z_D)), L(v) = |v - D(v)|^η the autoencoder's loss
    return real_loss.mean() - k * fake_loss.mean()


def began_g_loss(fake_loss: Tensor) -> Tensor:
    # Berthelot et al. 2017 eq. (4): L_G = L(G(z_G))
    return fake_loss.mean()


def began_k_update(k: Tensor, real_loss: Tensor, fake_loss: Tensor, gamma: float, lambda_k: float) -> Tensor:
    # Berthelot et al. 2017 eq. (4): k_{t+1} = k_t + λ_k (γ L(x) - L(G(z_G))), kept in [0, 1] (§3.4: k_t ∈ [0, 1])
    return (k + lambda_k * (gamma * real_loss.detach().mean() - fake_loss.detach().mean())).clamp(0.0, 1.0)


def began_convergence(real_loss: Tensor, fake_loss: Tensor, gamma: float) -> Tensor:
    # Berthelot et al. 2017 §3.4.1: M_global = L(x) + |γ L(x) - L(G(z_G))|
    r = real_loss.detach().mean()
    return r + (gamma * r - fake_loss.detach().mean()).abs()


# ------------------------------------------------------------------------------------------ tricks
def feature_matching_loss(real_features: Tensor, fake_features: Tensor) -> Tensor:
    # seed 002: L_fm = ‖E_data h(x) - E_z h(g(z))‖²
    return (real_features.mean(0) - fake_features.mean(0)).pow(2).sum()
