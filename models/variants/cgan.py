"""Conditional GAN (Mirza & Osindero 2014; seed 002): G(z, y) and D(x, y) both receive the class label."""
from __future__ import annotations

from dataclasses import dataclass

from ..registry import register_variant
from .minimax import MinimaxConfig
from .nsgan import NonSaturatingGAN


@dataclass
class CGANConfig(MinimaxConfig):
    conditional: bool = True          # G gets one-hot(y) concatenated to z; D adds a projection ⟨embed(y), φ(x)⟩


@register_variant
class ConditionalGAN(NonSaturatingGAN):
    """The non-saturating GAN trained conditionally on a labelled dataset.

    Conditioning lives in the networks and the base module (any variant accepts ``conditional=True``);
    this variant only makes it the default. Needs ``num_classes > 0``; ``model.sample(n, labels)`` draws
    samples of the given classes.
    """

    name = "cgan"
    Config = CGANConfig
