"""Generative moment matching network (Li et al. 2015; Dziugaite et al. 2015; seed 000 "density difference").

No discriminator: the generator minimises the unbiased MMD² between a generated and a real batch under a sum
of RBF kernels, k(x, y) = Σ_σ exp(-‖x - y‖² / (2σ²)). The bandwidths are a geometric ladder from ``sigma_min``
to ``sigma_max`` in units of one coordinate pair: they are multiplied by √(D/2) for D-dimensional samples, so
the defaults fit 2-D toy data (mode std 0.02 .. ring diameter 4) and images in [-1, 1] alike.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import geometric_bandwidths, mmd2_unbiased
from ..registry import register_variant


@dataclass
class GMMNConfig(GANConfig):
    sigma_min: float = 0.05         # smallest RBF bandwidth (× √(D/2))
    sigma_max: float = 4.0          # largest RBF bandwidth (× √(D/2))
    num_bandwidths: int = 7         # kernels in the mixture, spaced geometrically
    lr_g: float = 1e-3              # no adversary to keep pace with: a larger step is stable

    def check(self) -> None:
        if not 0 < self.sigma_min <= self.sigma_max or self.num_bandwidths < 1:
            raise ConfigError(f"need 0 < sigma_min <= sigma_max and num_bandwidths >= 1; got {self.sigma_min}, "
                              f"{self.sigma_max}, {self.num_bandwidths}")


def scaled_bandwidths(cfg: GMMNConfig, dim: int) -> tuple[float, ...]:
    """The config's bandwidth ladder scaled by √(dim/2) for ``dim``-dimensional inputs of the kernel."""
    scale = math.sqrt(dim / 2)
    return tuple(s * scale for s in geometric_bandwidths(cfg.sigma_min, cfg.sigma_max, cfg.num_bandwidths))


@register_variant
class GMMN(GANModule):
    """Generator-only moment matching: min_θ MMD²_u(p*, pθ) with an RBF mixture (see the module docstring)."""

    name = "gmmn"
    Config = GMMNConfig
    has_discriminator = False
    g_needs_real = True

    def g_loss(self, fake: Critique, real: Critique | None):
        bandwidths = scaled_bandwidths(self.cfg, fake.features.shape[1])
        mmd2 = mmd2_unbiased(real.features, fake.features, bandwidths)
        self.track("mmd2", mmd2)
        return mmd2
