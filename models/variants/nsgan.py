"""Non-saturating GAN (Goodfellow et al. 2014 §3; seed 001's generator ascent on log D(G(z)))."""
from __future__ import annotations

from ..base import Critique
from ..losses import nonsaturating_g_loss
from ..registry import register_variant
from .minimax import MinimaxGAN


@register_variant
class NonSaturatingGAN(MinimaxGAN):
    """The minimax discriminator (class prior π) with the generator minimising -E log D(G(z))."""

    name = "nsgan"

    def g_loss(self, fake: Critique, real: Critique | None):
        return nonsaturating_g_loss(fake.score)
