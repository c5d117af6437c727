"""Ratio matching (seed 000): fit r_φ ≈ r* = p*/pθ directly, then move pθ so that the ratio becomes 1.

The critic's output V gives r_φ(x) = softplus(V(x)) ≥ 0 and is fitted by the least-squares Bregman divergence
(uLSIF, Kanamori et al. 2009): ½E_pθ[(r_φ - r*)²] = ½E_pθ[r_φ²] - E_p*[r_φ] + const. The generator minimises
E_pθ[-log r_φ(G(z))] ≈ KL(pθ‖p*), which is ≥ 0 and zero iff the estimated ratio is 1 on the generator's support.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..base import Critique, GANModule
from ..config import GANConfig
from ..losses import ratio_from_score, ratio_g_loss, ulsif_ratio_loss
from ..registry import register_variant


@dataclass
class RatioMatchingConfig(GANConfig):
    pass


@register_variant
class RatioMatchingGAN(GANModule):
    """Density-ratio fitting by uLSIF with the generator driving r_φ(G(z)) towards 1 (see the module docstring)."""

    name = "ratio_matching"
    Config = RatioMatchingConfig
    score_is_logit = False

    def d_loss(self, real: Critique, fake: Critique):
        r_real, r_fake = ratio_from_score(real.score), ratio_from_score(fake.score)
        self.track("ratio_real", r_real.mean())
        self.track("ratio_fake", r_fake.mean())
        return ulsif_ratio_loss(r_real, r_fake)

    def g_loss(self, fake: Critique, real: Critique | None):
        return ratio_g_loss(ratio_from_score(fake.score))
