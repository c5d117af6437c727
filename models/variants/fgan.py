"""f-GAN: variational divergence minimisation (Nowozin et al. 2016; seed 000 "divergence minimisation").

The critic V maximises the lower bound F = E_P[g_f(V(x))] - E_Q[f*(g_f(V(G(z))))] ≤ D_f(P‖Q) (P = data,
Q = generator); its D loss is -F. The generator, by default, maximises E_Q[g_f(V(G(z)))] (Nowozin et al. §3.2,
the non-saturating alternative; for ``divergence="gan"`` it is the non-saturating GAN); ``g_objective="saddle"``
descends F itself. The divergence's f, activation g_f and conjugate f* are rows of ``losses.F_DIVERGENCES``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import (
    F_DIVERGENCES,
    alpha_divergence,
    fgan_d_loss,
    fgan_g_loss,
    fgan_saddle_g_loss,
)
from ..registry import register_variant


@dataclass
class FGANConfig(GANConfig):
    # a row of Nowozin et al.'s Tables 2 and 6 (losses.F_DIVERGENCES)
    divergence: Literal["kl", "reverse_kl", "pearson", "squared_hellinger", "js", "gan",
                        "total_variation", "neyman", "jeffrey", "alpha"] = "js"
    g_objective: Literal["alternative", "saddle"] = "alternative"   # max E_Q g_f(V) | min F (eq. 6)
    alpha: float = 1.5                # α of divergence="alpha" (not 0 or 1)

    def check(self) -> None:
        if self.alpha in (0.0, 1.0):
            raise ConfigError(f"alpha={self.alpha}: the α-divergence needs alpha not in {{0, 1}} "
                              "(use divergence='kl' or 'reverse_kl' for those limits)")


@register_variant
class FGAN(GANModule):
    """f-GAN with the ``divergence`` row of Nowozin et al.'s Table 2 (see the module docstring)."""

    name = "fgan"
    Config = FGANConfig
    score_is_logit = False         # V is a logit only for the GAN row; log its raw mean

    @property
    def divergence(self):
        if self.cfg.divergence == "alpha":
            return alpha_divergence(self.cfg.alpha)
        return F_DIVERGENCES[self.cfg.divergence]

    def d_loss(self, real: Critique, fake: Critique):
        loss = fgan_d_loss(real.score, fake.score, self.divergence)
        self.track("divergence_bound", -loss)
        return loss

    def g_loss(self, fake: Critique, real: Critique | None):
        if self.cfg.g_objective == "saddle":
            return fgan_saddle_g_loss(fake.score, self.divergence)
        return fgan_g_loss(fake.score, self.divergence)

