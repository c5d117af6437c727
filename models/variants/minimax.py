"""The original minimax GAN with class prior π (seed 000, class-probability estimation; seed 001)."""
from __future__ import annotations

from dataclasses import dataclass

from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import minimax_d_loss, minimax_g_loss
from ..registry import register_variant


@dataclass
class MinimaxConfig(GANConfig):
    pi: float = 0.5     # P(Y = 1): weight of the real class in D's cross-entropy; D* = πp*/(πp* + (1-π)pθ)

    def check(self) -> None:
        if not 0 < self.pi < 1:
            raise ConfigError(f"pi={self.pi} must lie strictly between 0 and 1")


@register_variant
class MinimaxGAN(GANModule):
    """min_θ max_φ π E_p*[log D(x)] + (1-π) E_z[log(1 - D(G(z)))], G descending the saturating E log(1 - D(G(z)))."""

    name = "minimax"
    Config = MinimaxConfig

    def d_loss(self, real: Critique, fake: Critique):
        return minimax_d_loss(real.score, fake.score, self.cfg.pi)

    def g_loss(self, fake: Critique, real: Critique | None):
        return minimax_g_loss(fake.score)
