"""GAN objectives on one shared LightningModule (:mod:`models.base`), networks and the variant registry."""
from .base import Critique, GANModule
from .config import ConfigError, GANConfig
from .registry import VARIANTS, get_variant, register_variant
from . import variants  # noqa: F401  (registers the variants)

__all__ = ["Critique", "ConfigError", "GANConfig", "GANModule", "VARIANTS", "get_variant", "register_variant"]


def _skip_nvml_polling_without_gpus() -> None:
    """Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (fork safety); with a CUDA build of torch on a machine
    without GPUs, every optimiser ``step()`` then dlopens NVML again (~0.7 ms a step, measured). With no GPU there
    is nothing to protect, so the availability check goes back to torch's cached runtime query."""
    import os

    import torch

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


_skip_nvml_polling_without_gpus()
