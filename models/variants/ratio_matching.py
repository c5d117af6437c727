"""Ratio matching (seed 000): fit r_φ ≈ r* = p*/pθ directly, then move pθ so that the ratio becomes 1.

The critic's output V gives r_φ(x) = softplus(V(x)) ≥ 0 and is fitted by the least-squares Bregman divergence
(uLSIF, Kanamori et al. 2009): ½E_pθ[(r_φ - r*)²] = ½E_pθ[r_φ²] - E_p*[r_φ] + const. The generator minimises
E_pθ[-log r_φ(G(z))] ≈ KL(pθ‖p*), which is ≥ 0 and zero iff the estimated ratio is 1 on the generator's support.

Seed 000: the squared error "can be generalized beyond the squared error using the Bregman divergence";
``bregman`` picks the fit (``models.losses.BREGMAN_RATIO_LOSSES``, Uehara et al. 2016): ``"squared"``
(uLSIF, the default), ``"kl"``, ``"logistic"`` or ``"power"`` (the BR family with α = ``power``). Each is
minimised at the density ratio, so the generator's loss is unchanged.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import (
    BREGMAN_RATIO_LOSSES,
    gradient_penalty,
    ratio_from_score,
    ratio_g_loss,
)
from ..registry import register_variant


@dataclass
class RatioMatchingConfig(GANConfig):
    # Without a Lipschitz control the critic saturates: softplus(V) on real data is driven to ~0 where its
    # gradient vanishes and the estimate does not recover (ring8, seed 0: 0 of 8 modes). A gradient penalty
    # on V (Gulrajani et al. 2017 form, λ = 1) helps (4 of 8); λ = 10 and a linear link r = V did not.
    gp_weight: float = 1.0
    bregman: Literal["squared", "kl", "logistic", "power"] = "squared"   # the Bregman divergence of the ratio fit
    power: float = 1.0                # α of bregman="power" (BR family, α > 0; 1 = twice uLSIF)

    def check(self) -> None:
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight={self.gp_weight} must be >= 0")
        if not self.power > 0:
            raise ConfigError(f"power={self.power} must be > 0 (the BR family's α)")

    def per_sample_penalty(self) -> bool:
        return self.gp_weight > 0          # the penalty is per sample: no batch norm, no minibatch discrimination


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
        return BREGMAN_RATIO_LOSSES[self.cfg.bregman](r_real, r_fake, self.cfg.power)

    def g_loss(self, fake: Critique, real: Critique | None):
        return ratio_g_loss(ratio_from_score(fake.score))

    def d_penalty(self, disc: nn.Module, real_x: Tensor, fake_x: Tensor, y: Tensor | None) -> Tensor | None:
        if self.cfg.gp_weight == 0:
            return None
        yy = y if self.cond_classes else None
        return gradient_penalty(lambda x: disc(x, yy)[0], real_x, fake_x, self.cfg.gp_weight)
