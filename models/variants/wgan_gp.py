"""WGAN with gradient penalty (Gulrajani et al. 2017, Algorithm 1)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from torch import Tensor, nn

from ..config import ConfigError, GANConfig
from ..losses import gradient_penalty
from ..registry import register_variant
from .wgan import WassersteinObjective


@dataclass
class WGANGPConfig(GANConfig):
    lr_g: float = 1e-4                # Gulrajani et al., Algorithm 1 defaults: α = 1e-4, β = (0, 0.9)
    lr_d: float = 1e-4
    beta1: float = 0.0
    beta2: float = 0.9
    n_critic: int = 5
    d_norm: Literal["none", "batch", "layer", "spectral"] = "layer"   # never batch norm (see below)
    gp_weight: float = 10.0           # λ in λ E[(‖∇f(x̂)‖₂ - 1)²]

    def check(self) -> None:
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight={self.gp_weight} must be >= 0")

    def per_sample_penalty(self) -> bool:
        return self.gp_weight > 0


@register_variant
class WGANGP(WassersteinObjective):
    """The WGAN critic/generator losses with λ E[(‖∇_x̂ f(x̂)‖₂ - 1)²] on x̂ = εx + (1-ε)G(z) instead of clipping.

    Defaults follow Gulrajani et al.'s Algorithm 1: Adam with lr 1e-4 and β = (0, 0.9), n_critic = 5, λ = 10.
    β1 = 0 rather than DCGAN's 0.5: the critic's target moves every step (G changes, and each critic step
    reweights the penalty's interpolates), so first-moment momentum mostly carries stale directions and makes
    the critic–generator dynamics oscillate; the paper uses β1 = 0 in its Algorithm 1 and its ResNet
    experiments, and β2 = 0.9 lets the second-moment estimate follow the changing gradient scale quickly.

    The critic has layer norm (GroupNorm(1, C) for convolutions) by default, as the paper recommends;
    batch norm and minibatch discrimination are rejected (:class:`ConfigError`, see
    :meth:`~models.config.GANConfig.per_sample_penalty`) because they couple the samples whose per-sample
    gradient norms are penalised. The penalty is one ``torch.autograd.grad(create_graph=True)`` inside the critic's
    loss, whose backward is the ordinary ``manual_backward``: nothing rank-specific, so DDP averages its
    gradients like any other term.
    """

    name = "wgan_gp"
    Config = WGANGPConfig

    def d_penalty(self, disc: nn.Module, real_x: Tensor, fake_x: Tensor, y: Tensor | None) -> Tensor | None:
        w = self.cfg.gp_weight
        return gradient_penalty(self.score_of(disc, y), real_x, fake_x, w) if w > 0 else None
