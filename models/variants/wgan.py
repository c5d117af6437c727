"""Wasserstein GAN with weight clipping: the course's Algorithm 2 (seed 002; Arjovsky et al. 2017)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import wasserstein_estimate, wgan_d_loss, wgan_g_loss
from ..registry import register_variant


@dataclass
class WGANConfig(GANConfig):
    optimizer: Literal["adam", "rmsprop"] = "rmsprop"   # Arjovsky et al.: momentum-free RMSProp
    lr_g: float = 5e-5
    lr_d: float = 5e-5
    n_critic: int = 5                 # critic steps per generator step
    clip: float = 0.01                # every critic parameter is clipped to [-clip, clip] after each critic step
    critic_warmup: int = 100          # critic steps for the first 25 and every 500th G step (Arjovsky et al.); 0 = off

    def check(self) -> None:
        if not self.clip > 0:
            raise ConfigError(f"clip={self.clip} must be > 0")
        if self.critic_warmup < 0:
            raise ConfigError(f"critic_warmup={self.critic_warmup} must be >= 0 (0 turns the warm-up off)")


class WassersteinObjective(GANModule):
    """The Wasserstein critic and generator losses shared by ``wgan`` and ``wgan_gp`` (not a variant itself:
    each adds its own Lipschitz control — clipping or a gradient penalty)."""

    score_is_logit = False

    def d_loss(self, real: Critique, fake: Critique):
        self.track("wasserstein", wasserstein_estimate(real.score, fake.score))
        return wgan_d_loss(real.score, fake.score)

    def g_loss(self, fake: Critique, real: Critique | None):
        return wgan_g_loss(fake.score)


@register_variant
class WGAN(WassersteinObjective):
    """Critic f ascends E f(x) - E f(G(z)) (loss ``-(E f(x) - E f(G(z)))``), G descends ``-E f(G(z))``.

    The Lipschitz constraint is enforced crudely by clipping every critic parameter to ``[-clip, clip]``
    after every critic step (:meth:`after_d_step`). The critic's Wasserstein estimate ``E f(x) - E f(G(z))``
    is logged as ``wasserstein``; the score is a critic value, not a logit.

    Arjovsky et al.'s Algorithm 1 as published trains the critic ``critic_warmup`` (100) steps before each of
    the first 25 generator steps and before every 500th, so the critic is near optimal when its gradient is
    used; ``n_critic`` (5) steps otherwise.
    """

    name = "wgan"
    Config = WGANConfig

    WARMUP_G_STEPS, WARMUP_EVERY = 25, 500   # Arjovsky et al.'s reference implementation

    def critic_steps(self) -> int:
        it = self.iteration
        if self.cfg.critic_warmup and (it < self.WARMUP_G_STEPS or it % self.WARMUP_EVERY == 0):
            return self.cfg.critic_warmup
        return self.cfg.n_critic

    @torch.no_grad()
    def after_d_step(self) -> None:
        c = self.cfg.clip
        for p in self.discriminators.parameters():
            p.clamp_(-c, c)
