"""Scores of 2-D Gaussian mixtures: a distance to the true mixture, and mode coverage (VEEGAN, PacGAN).

``mmd`` (the primary metric of every mixture dataset): the unbiased estimate of the squared maximum mean
discrepancy MMD²(p_g, p*) with the Gaussian (RBF) kernel k(x, y) = exp(−‖x − y‖² / (2h²)) at the mixture's mode
std h = σ (Gretton et al. 2012, eq. 3), between the generated sample and a *fresh* sample of the true mixture
(:data:`REFERENCE_SIZE` points drawn from the known modes with :data:`REFERENCE_SEED`, never the training set).
The RBF kernel is characteristic, so MMD is a proper distance between distributions (0 only for p_g = p*); at
the bandwidth σ it sees the mixture at the scale of its modes: a point between modes scores like no point at
all, so a sampler that ignores the data scores ≈ 1/(3K) (K modes), one that collapses onto one mode ≈ 1/3, and
a fresh sample of the mixture ≈ 0 (± a few 1e-5 at 2,500 points).

Mode coverage (PacGAN, Lin et al. 2018): a generated point is *high-quality* when it lies within 3 std of its
nearest mode; a mode is *covered* when at least one high-quality point is assigned to it (``modes_covered``,
PacGAN's count, kept under its published name), and *strictly covered* when it receives at least
:data:`STRICT_SHARE` (a quarter) of the high-quality points a sample of the true mixture gives it on average,
n / K · P(‖ε‖ ≤ 3σ) = n / K · (1 − e^{−9/2}) (``modes_covered_strict``); ``reverse_kl`` is KL(q‖u) between
the histogram q of high-quality points over the modes and the uniform distribution u (PacGAN's reverse KL,
natural log).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .registry import Metric, MetricGroup, register_metric_group

HQ_WITHIN = 3.0                  # high quality: within this many std of the nearest mode
STRICT_SHARE = 0.25              # strict coverage: this share of a mode's expected high-quality points
REFERENCE_SEED = 2_147_483_647   # the fresh sample of the true mixture (the training set uses data_seed, 0)
REFERENCE_SIZE = 2500


def expected_hq_per_mode(n: int, k: int, threshold: float = HQ_WITHIN) -> float:
    """High-quality points a sample of ``n`` from an equal-weight isotropic 2-D mixture of ``k`` modes gives each
    mode on average: n/k · P(‖ε‖ ≤ tσ), ‖ε‖/σ being Rayleigh distributed (P = 1 − exp(−t²/2))."""
    return n / k * (1.0 - math.exp(-threshold ** 2 / 2))


def mode_statistics(points: Tensor, modes: Tensor, std: float, threshold: float = HQ_WITHIN,
                    strict_share: float = STRICT_SHARE) -> dict[str, float]:
    """Mode metrics of ``points (N, 2)`` against ``modes (K, 2)``; see the module docstring.

    With no high-quality point, ``reverse_kl`` is ``inf`` (no histogram to compare).
    """
    d = torch.cdist(points.double(), modes.double())                 # (N, K)
    dist, nearest = d.min(dim=1)
    hq = dist <= threshold * std
    counts = torch.bincount(nearest[hq], minlength=modes.shape[0]).double()
    k = modes.shape[0]
    n_hq = int(hq.sum())
    if n_hq:
        q = counts / n_hq
        nz = q > 0
        rkl = float((q[nz] * torch.log(q[nz] * k)).sum())
    else:
        rkl = math.inf
    strict = strict_share * expected_hq_per_mode(points.shape[0], k, threshold)
    return {"modes_covered": float((counts > 0).sum()), "modes_covered_strict": float((counts >= strict).sum()),
            "high_quality": 100.0 * n_hq / points.shape[0], "reverse_kl": rkl}


def mmd2_rbf(x: Tensor, y: Tensor, bandwidth: float, chunk: int = 1024, kyy: float | None = None) -> float:
    """Unbiased MMD²_u(x, y) with k(a, b) = exp(−‖a − b‖² / (2 bandwidth²)) (Gretton et al. 2012, eq. 3):
    mean_{i≠j} k(x_i, x_j) + mean_{i≠j} k(y_i, y_j) − 2 mean_{i,j} k(x_i, y_j); float64, in row chunks.
    ``kyy``: the second term when already known (a fixed reference ``y``: :func:`reference_kyy`)."""
    x, y = x.detach().double().cpu(), y.detach().double().cpu()
    if x.shape[0] < 2 or y.shape[0] < 2:
        raise ValueError("the unbiased MMD needs at least 2 points in each sample")
    gamma = 1.0 / (2.0 * bandwidth ** 2)

    def ksum(a: Tensor, b: Tensor) -> float:
        return sum(float(torch.exp(-gamma * torch.cdist(a[i:i + chunk], b).square()).sum())
                   for i in range(0, a.shape[0], chunk))

    n, m = x.shape[0], y.shape[0]
    kxx = (ksum(x, x) - n) / (n * (n - 1))            # the diagonal k(x_i, x_i) = 1 left out
    if kyy is None:
        kyy = (ksum(y, y) - m) / (m * (m - 1))
    return kxx + kyy - 2.0 * ksum(x, y) / (n * m)


_KYY: dict[tuple[str, float, int, int], float] = {}


def reference_kyy(name: str, ref: Tensor, bandwidth: float, seed: int = REFERENCE_SEED) -> float:
    """mean_{i≠j} k(y_i, y_j) of a dataset's fixed reference sample, computed once per process (in-training
    evaluation scores every ``eval_every`` iterations against the same reference)."""
    key = (name, bandwidth, int(ref.shape[0]), seed)
    if key not in _KYY:
        m = ref.shape[0]
        _KYY[key] = self_kernel_sum(ref, bandwidth) / (m * (m - 1))
    return _KYY[key]


def self_kernel_sum(y: Tensor, bandwidth: float, chunk: int = 1024) -> float:
    """sum_{i≠j} k(y_i, y_j) (the diagonal, k = 1, left out)."""
    y = y.detach().double().cpu()
    gamma = 1.0 / (2.0 * bandwidth ** 2)
    total = sum(float(torch.exp(-gamma * torch.cdist(y[i:i + chunk], y).square()).sum())
                for i in range(0, y.shape[0], chunk))
    return total - y.shape[0]


def mixture_reference(datamodule, n: int = REFERENCE_SIZE, seed: int = REFERENCE_SEED) -> Tensor:
    """A fresh sample of the datamodule's true mixture (its class's ``sample``), not its training set."""
    return datamodule.sample(n, seed=seed)[0]


def _mixture_unsupported(datamodule) -> str | None:
    if getattr(datamodule, "kind", None) != "points" or not getattr(datamodule, "has_modes", False):
        return "mode coverage needs 2-D points drawn around known modes (a Gaussian mixture)"
    return None


class ModeCoverage(MetricGroup):
    metrics = (Metric("modes_covered", True, cheap=True, coverage=True,
                      summary="modes with at least one high-quality sample"),
               Metric("modes_covered_strict", True, cheap=True,
                      summary="modes with >= 1/4 of their expected high-quality samples"),
               Metric("high_quality", True, cheap=True, summary="% of samples within 3 std of their nearest mode"),
               Metric("reverse_kl", False, cheap=True, summary="KL(mode histogram of high-quality samples ‖ uniform)"))
    num_samples = 2500

    def unsupported(self, datamodule):
        return _mixture_unsupported(datamodule)

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        points = fake.detach().float().cpu()
        stats = mode_statistics(points, datamodule.modes(), datamodule.std)
        k = int(datamodule.modes().shape[0])
        protocol = {"implementation": "ganbench.mode_statistics", "num_generated": int(fake.shape[0]),
                    "num_modes": k, "std": datamodule.std,
                    "high_quality_within": "3 std of the nearest mode", "reference": "VEEGAN/PacGAN protocol",
                    "seed": seed}
        protocols = {n: dict(protocol, metric=n) for n in self.names}
        protocols["modes_covered_strict"].update(
            reference="GANBench (stricter than PacGAN's modes_covered)",
            rule=f"a mode counts when it receives >= {STRICT_SHARE:g} x its expected high-quality samples "
                 f"n/K (1 - exp(-9/2)) = {STRICT_SHARE * expected_hq_per_mode(int(fake.shape[0]), k):.4g}")
        return stats, protocols


class MixtureMMD(MetricGroup):
    """``mmd``: MMD²_u at the mode std against a fresh sample of the true mixture (see the module docstring)."""

    metrics = (Metric("mmd", False, cheap=True,
                      summary="MMD² (RBF kernel at the mode std) to a fresh sample of the true mixture"),)
    num_samples = 2500

    def unsupported(self, datamodule):
        return _mixture_unsupported(datamodule)

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        ref = mixture_reference(datamodule)
        kyy = reference_kyy(getattr(datamodule, "name", type(datamodule).__name__), ref, datamodule.std)
        value = mmd2_rbf(fake, ref, datamodule.std, kyy=kyy)
        protocol = {"implementation": "ganbench.mmd2_rbf (unbiased U-statistic, float64)", "metric": "mmd",
                    "kernel": f"exp(-|x-y|^2 / (2 h^2)), h = the mode std {datamodule.std:g}",
                    "num_generated": int(fake.shape[0]), "num_real": int(ref.shape[0]),
                    "reference": f"a fresh sample of the true mixture (seed {REFERENCE_SEED}), not the training set",
                    "seed": seed}
        return {"mmd": value}, {"mmd": protocol}


register_metric_group(MixtureMMD())
register_metric_group(ModeCoverage())
