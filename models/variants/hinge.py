"""Hinge-loss GAN (Lim & Ye 2017; Miyato et al. 2018, SNGAN; BigGAN) with a spectrally normalised D."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..base import Critique, GANModule
from ..config import GANConfig
from ..losses import hinge_d_loss, hinge_g_loss
from ..registry import register_variant


@dataclass
class HingeConfig(GANConfig):
    d_norm: Literal["none", "batch", "layer", "spectral"] = "spectral"   # SNGAN: every D layer has σ(W) = 1


@register_variant
class HingeGAN(GANModule):
    """min_D E[max(0, 1 - D(x))] + E[max(0, 1 + D(G(z)))];  min_G -E D(G(z)).

    D's output is a margin score (not a logit), logged raw.
    """

    name = "hinge"
    Config = HingeConfig
    score_is_logit = False

    def d_loss(self, real: Critique, fake: Critique):
        return hinge_d_loss(real.score, fake.score)

    def g_loss(self, fake: Critique, real: Critique | None):
        return hinge_g_loss(fake.score)
