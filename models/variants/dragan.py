"""DRAGAN (Kodali et al. 2017, "On Convergence and Stability of GANs"), as Lucic et al. 2018 compare it.

The non-saturating GAN's losses plus a gradient penalty around the real data: λ E[(‖∇D(x̂)‖₂ - 1)²] with
x̂ = x + α·δ, δ = c·std(x)·u, u ~ U[0, 1]^d, α ~ U[0, 1] per sample (Lucic et al.'s compare_gan implementation of
the paper's perturbation; c = 0.5 and λ = 10 are the paper's and the study's defaults).
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from ..config import ConfigError
from ..losses import dragan_penalty
from ..registry import register_variant
from .minimax import MinimaxConfig
from .nsgan import NonSaturatingGAN


@dataclass
class DRAGANConfig(MinimaxConfig):
    dragan_weight: float = 10.0       # λ of λ E[(‖∇D(x̂)‖₂ - 1)²] (Kodali et al.; Lucic et al.)
    dragan_c: float = 0.5             # perturbation scale c: x̂ = x + α·c·std(x)·u

    def check(self) -> None:
        super().check()
        if self.dragan_weight < 0 or self.dragan_c <= 0:
            raise ConfigError(f"dragan_weight={self.dragan_weight} must be >= 0 and dragan_c={self.dragan_c} > 0")

    def per_sample_penalty(self) -> bool:
        return self.dragan_weight > 0 or super().per_sample_penalty()


@register_variant
class DRAGAN(NonSaturatingGAN):
    """The non-saturating GAN with λ E[(‖∇D(x̂)‖₂ - 1)²] on x̂ = x + α·c·std(x)·u around the real data."""

    name = "dragan"
    Config = DRAGANConfig

    def d_penalty(self, disc: nn.Module, real_x: Tensor, fake_x: Tensor, y: Tensor | None) -> Tensor | None:
        w = self.cfg.dragan_weight
        return dragan_penalty(self.score_of(disc, y), real_x, w, self.cfg.dragan_c) if w > 0 else None
