"""Energy-based GAN (Zhao et al. 2017; seed 002): the discriminator is an autoencoder and its score an energy.

E(x) = mean_d (x - AE(x))_d², the per-sample reconstruction error averaged over the data dimensions (so one
margin suits 2-D points and images alike); L_D = E(x) + [m - E(G(z))]₊, L_G = E(G(z)) + λ_PT·PT(codes of G(z)).

The pulling-away term is off by default (``pulling_away=False``: the paper's plain EBGAN); ``pulling_away=True``
is their EBGAN-PT, with λ_PT = ``pt_weight`` = 0.1, the value Zhao et al. (2017, §2.4 and their MNIST and
LSUN/CelebA experiments) use whenever PT is on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .. import networks
from ..base import Critique, GANModule
from ..config import ConfigError, GANConfig
from ..losses import ebgan_d_loss, ebgan_g_loss, pulling_away_term
from ..registry import register_variant


@dataclass
class EBGANConfig(GANConfig):
    margin: float = 1.0         # m of the hinge [m - E(G(z))]₊ (energy = mean squared reconstruction error)
    pulling_away: bool = False  # EBGAN-PT: add λ_PT·PT(codes of G(z)) to the generator loss (Zhao et al. §2.4)
    pt_weight: float = 0.1      # λ_PT when pulling_away is on (Zhao et al. 2017: 0.1)
    code_dim: int = 32          # autoencoder code size; the codes are the features (feature matching, PT)

    def check(self) -> None:
        if self.margin <= 0 or self.pt_weight < 0 or self.code_dim < 1:
            raise ConfigError(f"margin={self.margin} must be > 0, pt_weight={self.pt_weight} >= 0, "
                              f"code_dim={self.code_dim} >= 1")
        if self.minibatch_kernels:
            raise ConfigError("ebgan's discriminator is an autoencoder without a score head: "
                              "minibatch_kernels must be 0")
        if self.conditional:
            raise ConfigError("ebgan is unconditional: conditional must be False")


class AutoencoderDiscriminator(nn.Module):
    """``forward(x, y) -> (energy (B,), code (B, code_dim))`` with energy = mean over dims of |x - dec(enc(x))|^η
    (η = 2 for EBGAN's squared error, 1 for BEGAN's L1)."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, eta: int = 2) -> None:
        super().__init__()
        self.encoder, self.decoder, self.eta = encoder, decoder, eta

    def forward(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        code = self.encoder(x)
        recon = self.decoder(code).view_as(x)
        diff = x - recon
        return (diff.pow(2) if self.eta == 2 else diff.abs().pow(self.eta)).flatten(1).mean(1), code


@register_variant
class EBGAN(GANModule):
    """EBGAN with an autoencoder energy, margin ``m`` and the optional pulling-away term (see module doc)."""

    name = "ebgan"
    Config = EBGANConfig
    score_is_logit = False
    energy_power = 2            # η of the energy |x - AE(x)|^η: EBGAN's squared error

    def build_discriminator(self, index: int) -> nn.Module:
        c = self.cfg
        size = self.member_size(index)                          # ensemble members of increasing capacity
        if c.arch == "dcgan":
            body = networks.dcgan_discriminator(self.data_shape, size, c.d_norm, fc=c.dcgan_fc).body
            feat = body(torch.zeros(2, *self.data_shape)).shape[1]
            encoder = nn.Sequential(body, nn.Linear(feat, c.code_dim))
            decoder = networks.dcgan_generator(self.data_shape, c.code_dim, size, fc=c.dcgan_fc).body
            return AutoencoderDiscriminator(encoder, decoder, self.energy_power)
        hidden, dim = size, math.prod(self.data_shape)
        encoder = nn.Sequential(nn.Flatten(), *networks.mlp_body(dim, hidden, c.depth, c.activation, c.d_norm),
                                nn.Linear(hidden, c.code_dim))
        decoder = networks.mlp_body(c.code_dim, hidden, c.depth, c.activation)
        decoder.append(nn.Linear(hidden, dim))
        if self.data_kind == "image":
            decoder.append(nn.Tanh())
        return AutoencoderDiscriminator(encoder, decoder, self.energy_power)

    def d_loss(self, real: Critique, fake: Critique):
        return ebgan_d_loss(real.score, fake.score, self.cfg.margin)

    def g_loss(self, fake: Critique, real: Critique | None):
        loss = ebgan_g_loss(fake.score)
        if self.cfg.pulling_away and self.cfg.pt_weight > 0:
            pt = pulling_away_term(fake.features)
            self.track("pulling_away", pt)
            loss = loss + self.cfg.pt_weight * pt
        return loss
