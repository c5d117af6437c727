"""Relativistic pairing GAN (Jolicoeur-Martineau 2019, "The relativistic discriminator: a key element missing from
standard GAN"; the RpGAN of R3GAN, Huang et al. 2024).

D scores each real sample relative to a generated one, paired by index in the batch:
L_D = E[softplus(D(G(z)) - D(x))] and L_G = E[softplus(D(x) - D(G(z)))] (f = -log σ of the paper's RpGAN).
R3GAN's recipe adds the zero-centred penalties R1 and R2 (``r1_gamma``, ``r2_gamma``, options of every
logit-scored variant; off by default here, so ``rpgan`` alone is Jolicoeur-Martineau's RpGAN).
"""
from __future__ import annotations

from ..base import Critique, GANModule
from ..losses import rpgan_d_loss, rpgan_g_loss
from ..registry import register_variant


@register_variant
class RpGAN(GANModule):
    """min_D E[softplus(D(G(z)) - D(x))];  min_G E[softplus(D(x) - D(G(z)))], real and fake paired by index."""

    name = "rpgan"
    g_needs_real = True

    def d_loss(self, real: Critique, fake: Critique):
        return rpgan_d_loss(real.score, fake.score)

    def g_loss(self, fake: Critique, real: Critique | None):
        return rpgan_g_loss(fake.score, real.score)
