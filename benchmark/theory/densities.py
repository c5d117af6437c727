"""1-D distributions whose densities are known, and the divergences between them by numerical integration.

The theory lab's "truth": p*(x), pθ(x), D*(x), JSD and every f-divergence come from these closed-form
densities, never from a network. Samples are *quantile samples* x_i = F⁻¹((i + offset)/n): the mean of any
smooth g over them is the midpoint rule for E[g(x)] (error O(1/n²) in the bulk), so a discriminator trained on
them sees the distribution itself, not a noisy draw of it, and the measured gaps are the losses' and networks'
own, not Monte-Carlo noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy import integrate, special, stats


@dataclass(frozen=True)
class Mixture1D:
    """Gaussian mixture on the real line: ``weights`` (summing to 1), ``means`` and ``stds``.

    ``label`` is how plots and tables name it, e.g. ``"N(0, 1)"``.
    """

    weights: tuple[float, ...]
    means: tuple[float, ...]
    stds: tuple[float, ...]
    label: str = ""

    def __post_init__(self) -> None:
        if not (len(self.weights) == len(self.means) == len(self.stds)) or not self.weights:
            raise ValueError("weights, means and stds must have the same non-zero length")
        if abs(sum(self.weights) - 1.0) > 1e-9 or min(self.stds) <= 0:
            raise ValueError(f"weights must sum to 1 and stds be > 0, got {self.weights}, {self.stds}")

    def logpdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[..., None]
        comp = stats.norm.logpdf(x, np.array(self.means), np.array(self.stds)) + np.log(np.array(self.weights))
        return special.logsumexp(comp, axis=-1)

    def pdf(self, x: np.ndarray) -> np.ndarray:
        return np.exp(self.logpdf(x))

    def cdf(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)[..., None]
        return (np.array(self.weights) * stats.norm.cdf(x, np.array(self.means), np.array(self.stds))).sum(-1)

    def span(self, k: float = 10.0) -> tuple[float, float]:
        """An interval holding all but a negligible (< 1e-20) part of the mass: means ± k stds."""
        return (min(m - k * s for m, s in zip(self.means, self.stds)),
                max(m + k * s for m, s in zip(self.means, self.stds)))

    def quantiles(self, n: int, offset: float = 0.5) -> np.ndarray:
        """``n`` quantile samples F⁻¹((i + offset)/n), i = 0..n-1, sorted (see the module docstring)."""
        u = (np.arange(n) + offset) / n
        if len(self.weights) == 1:
            return stats.norm.ppf(u, self.means[0], self.stds[0])
        lo, hi = self.span(9.0)
        grid = np.linspace(lo, hi, 400_001)
        return np.interp(u, self.cdf(grid), grid)


def gaussian(mean: float, std: float) -> Mixture1D:
    return Mixture1D((1.0,), (float(mean),), (float(std),), f"N({mean:g}, {std:g}²)")


def mixture(means: tuple[float, ...], std: float) -> Mixture1D:
    k = len(means)
    return Mixture1D(tuple([1.0 / k] * k), tuple(map(float, means)), tuple([float(std)] * k),
                     f"mix({', '.join(f'{m:g}' for m in means)}; σ={std:g})")


def _integrate(fn: Callable[[float], float], p: Mixture1D, q: Mixture1D) -> float:
    lo, hi = min(p.span()[0], q.span()[0]), max(p.span()[1], q.span()[1])
    breaks = sorted(set(p.means) | set(q.means))
    value, _ = integrate.quad(fn, lo, hi, points=breaks, limit=400, epsabs=1e-11, epsrel=1e-10)
    return float(value)


def jsd(p: Mixture1D, q: Mixture1D) -> float:
    """Jensen-Shannon divergence in nats: ½ KL(p‖m) + ½ KL(q‖m), m = (p + q)/2, by ``scipy.integrate.quad``."""
    def integrand(x: float) -> float:
        lp, lq = float(p.logpdf(x)), float(q.logpdf(x))
        lm = np.logaddexp(lp, lq) - math.log(2.0)
        return 0.5 * (math.exp(lp) * (lp - lm) + math.exp(lq) * (lq - lm))

    return _integrate(integrand, p, q)


def kl(p: Mixture1D, q: Mixture1D) -> float:
    """KL(p‖q) in nats by quadrature."""
    return _integrate(lambda x: math.exp(float(p.logpdf(x))) * float(p.logpdf(x) - q.logpdf(x)), p, q)


def f_divergence(f: Callable, p: Mixture1D, q: Mixture1D) -> float:
    """D_f(P‖Q) = ∫ q(x) f(p(x)/q(x)) dx by quadrature, with ``f`` the generator function of a row of
    ``models.losses.F_DIVERGENCES`` (a function of a torch tensor, evaluated in float64)."""
    import torch

    def integrand(x: float) -> float:
        lp, lq = float(p.logpdf(x)), float(q.logpdf(x))
        u = torch.tensor(math.exp(lp - lq), dtype=torch.float64)
        return math.exp(lq) * float(f(u))

    return _integrate(integrand, p, q)


def optimal_discriminator(p_star: Mixture1D, p_theta: Mixture1D, x: np.ndarray, pi: float = 0.5) -> np.ndarray:
    """D*(x) = π p*(x) / (π p*(x) + (1 - π) pθ(x)) (seed 003, with the class prior of seed 000)."""
    a = math.log(pi) + p_star.logpdf(x)
    b = math.log(1.0 - pi) + p_theta.logpdf(x)
    return special.expit(a - b)
