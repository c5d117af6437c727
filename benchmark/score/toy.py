"""Mode coverage on 2-D Gaussian mixtures (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018).

A generated point is *high-quality* when it lies within 3 std of its nearest mode; a mode is *covered* when at
least one high-quality point is assigned to it. ``reverse_kl`` is KL(q‖u) between the histogram q of
high-quality points over the modes and the uniform distribution u (PacGAN's reverse KL, natural log).
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .registry import Metric, MetricGroup, register_metric_group


def mode_statistics(points: Tensor, modes: Tensor, std: float, threshold: float = 3.0) -> dict[str, float]:
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
    return {"modes_covered": float((counts > 0).sum()), "high_quality": 100.0 * n_hq / points.shape[0],
            "reverse_kl": rkl}


class ModeCoverage(MetricGroup):
    metrics = (Metric("modes_covered", True, cheap=True, coverage=True,
                      summary="modes with at least one high-quality sample"),
               Metric("high_quality", True, cheap=True, summary="% of samples within 3 std of their nearest mode"),
               Metric("reverse_kl", False, cheap=True, summary="KL(mode histogram of high-quality samples ‖ uniform)"))
    num_samples = 2500

    def unsupported(self, datamodule):
        if getattr(datamodule, "kind", None) != "points" or not getattr(datamodule, "has_modes", False):
            return "mode coverage needs 2-D points drawn around known modes (a Gaussian mixture)"
        return None

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        stats = mode_statistics(fake.detach().float().cpu(), datamodule.modes(), datamodule.std)
        protocol = {"implementation": "ganbench.mode_statistics", "num_generated": int(fake.shape[0]),
                    "num_modes": int(datamodule.modes().shape[0]), "std": datamodule.std,
                    "high_quality_within": "3 std of the nearest mode", "reference": "VEEGAN/PacGAN protocol",
                    "seed": seed}
        return stats, {n: dict(protocol, metric=n) for n in self.names}


register_metric_group(ModeCoverage())
