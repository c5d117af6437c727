"""BEGAN (Berthelot et al. 2017, "BEGAN: Boundary Equilibrium Generative Adversarial Networks").

D is an autoencoder (EBGAN's, :mod:`models.variants.ebgan`) and L(v) = mean |v - D(v)| its per-sample L1 reconstruction loss
(η = 1). With k_0 = 0 (eq. 4):

    L_D = L(x) - k_t L(G(z)),   L_G = L(G(z)),   k_{t+1} = clip(k_t + λ_k (γ L(x) - L(G(z))), 0, 1),

where γ = E[L(G(z))] / E[L(x)] is the diversity ratio the equilibrium aims at. The convergence measure
M_global = L(x) + |γ L(x) - L(G(z))| (§3.4.1) and k_t are logged every step through the module's on-device
scalar log (``began_m_global``, ``began_k``: no host sync). k_t is a buffer, so it is checkpointed and resumed.

Deviations kept: the paper's D is its own ELU conv autoencoder with an h = 64 (or 128) bottleneck, and it updates
D and G simultaneously; here D is the suite's autoencoder for the architecture (``arch``, ``code_dim``) and k is
updated after each D step from that step's losses, in the shared D-then-G schedule.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ..base import Critique
from ..config import ConfigError, GANConfig
from ..losses import began_convergence, began_d_loss, began_g_loss, began_k_update
from ..registry import register_variant
from .ebgan import EBGAN


@dataclass
class BEGANConfig(GANConfig):
    lr_g: float = 1e-4                # Berthelot et al. §4.1: Adam, lr 1e-4
    lr_d: float = 1e-4
    began_gamma: float = 0.5          # γ, the diversity ratio (Berthelot et al. use 0.3-0.7; 0.5 in most figures)
    lambda_k: float = 0.001           # λ_k, the proportional gain of k_t (Berthelot et al.: 0.001)
    code_dim: int = 64                # autoencoder bottleneck h (Berthelot et al.: 64)

    def check(self) -> None:
        if not 0 < self.began_gamma <= 1 or self.lambda_k < 0 or self.code_dim < 1:
            raise ConfigError(f"began_gamma={self.began_gamma} must lie in (0, 1], lambda_k={self.lambda_k} >= 0, "
                              f"code_dim={self.code_dim} >= 1")
        if self.minibatch_kernels:
            raise ConfigError("began's discriminator is an autoencoder without a score head: minibatch_kernels must be 0")
        if self.conditional:
            raise ConfigError("began is unconditional: conditional must be False")
        if self.n_discriminators != 1:
            raise ConfigError("began's equilibrium term k_t balances one autoencoder: n_discriminators must be 1")


@register_variant
class BEGAN(EBGAN):
    """L_D = L(x) - k_t L(G(z)), L_G = L(G(z)) with the equilibrium k_t and M_global logged (see module doc)."""

    name = "began"
    after_d_state = ("_last_losses",)    # what after_d_step reads from the D step (a population carries it)
    Config = BEGANConfig
    energy_power = 1            # η = 1: L(v) = mean |v - D(v)|

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.register_buffer("began_k", torch.zeros(()))           # k_0 = 0
        self._last_losses: tuple[Tensor, Tensor] | None = None

    def d_loss(self, real: Critique, fake: Critique):
        self._last_losses = (real.score.detach(), fake.score.detach())
        return began_d_loss(real.score, fake.score, self.began_k)

    def g_loss(self, fake: Critique, real: Critique | None):
        return began_g_loss(fake.score)

    @torch.no_grad()
    def after_d_step(self) -> None:
        if self._last_losses is None:
            return
        real, fake = self._last_losses
        if torch.distributed.is_available() and torch.distributed.is_initialized() \
                and torch.distributed.get_world_size() > 1:        # DDP: every rank takes the same k_t step
            both = torch.stack([real.detach().mean(), fake.detach().mean()])
            torch.distributed.all_reduce(both)
            real, fake = both[0] / torch.distributed.get_world_size(), both[1] / torch.distributed.get_world_size()
        c = self.cfg
        self.track("began_m_global", began_convergence(real, fake, c.began_gamma))
        k = began_k_update(self.began_k, real, fake, c.began_gamma, c.lambda_k)
        self.began_k.copy_(k)             # in place: a population member's k_t is its slice of the stacked buffer
        self.track("began_k", k)
        self._last_losses = None
