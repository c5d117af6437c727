"""Least-squares GAN (Mao et al. 2017) with the a = 0, b = 1, c = 1 coding: D regresses real -> 1, fake -> 0."""
from __future__ import annotations

from ..base import Critique, GANModule
from ..losses import lsgan_d_loss, lsgan_g_loss
from ..registry import register_variant


@register_variant
class LSGAN(GANModule):
    """min_D ½E[(D(x) - 1)²] + ½E[D(G(z))²];  min_G ½E[(D(G(z)) - 1)²].

    D's output is an unbounded regression score (no sigmoid), so it is logged raw (``score_is_logit = False``).
    """

    name = "lsgan"
    score_is_logit = False

    def d_loss(self, real: Critique, fake: Critique):
        return lsgan_d_loss(real.score, fake.score, a=0.0, b=1.0)

    def g_loss(self, fake: Critique, real: Critique | None):
        return lsgan_g_loss(fake.score, c=1.0)
