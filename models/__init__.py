"""GAN objectives on one shared LightningModule (:mod:`models.base`), networks and the variant registry."""
from .base import Critique, GANModule
from .config import ConfigError, GANConfig
from .registry import VARIANTS, get_variant, register_variant
from . import variants  # noqa: F401  (registers the variants)

__all__ = ["Critique", "ConfigError", "GANConfig", "GANModule", "VARIANTS", "get_variant", "register_variant"]
