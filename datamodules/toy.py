"""Embedded 2-D mixture benchmarks (VEEGAN / PacGAN protocol): nothing to download."""
from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import Tensor

from .base import GANDataModule


class GaussianMixtureDataModule(GANDataModule):
    """Equal-weight isotropic Gaussian mixture in 2-D with known ``modes`` and ``std``.

    The training set is ``num_samples`` points drawn once from ``data_seed`` (the same for every run, so every
    variant sees the same data); the run's ``seed`` only shuffles.
    """

    kind = "points"
    has_modes = True
    dims = (2,)
    std: ClassVar[float] = 0.05
    # mmd first: the primary metric (a distance that a sampler ignoring the data cannot pass, see
    # benchmark/score/toy.py); PacGAN's metrics kept under their published names
    metrics = ("mmd", "modes_covered_strict", "modes_covered", "high_quality", "reverse_kl")

    def __init__(self, batch_size: int = 512, seed: int = 0, on_device: bool = False,
                 num_samples: int = 100_000, data_seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device)
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples, self.data_seed = num_samples, data_seed

    @classmethod
    def modes(cls) -> Tensor:
        """``(K, 2)`` mode centres."""
        raise NotImplementedError

    @classmethod
    def sample(cls, n: int, seed: int) -> tuple[Tensor, Tensor]:
        """``n`` points of the true mixture and their components, drawn from ``seed`` (the training set is
        ``sample(num_samples, data_seed)``)."""
        g = torch.Generator().manual_seed(seed)
        modes = cls.modes()
        y = torch.randint(len(modes), (n,), generator=g)
        return modes[y] + cls.std * torch.randn(n, 2, generator=g), y

    def load(self) -> tuple[Tensor, Tensor]:
        return self.sample(self.num_samples, self.data_seed)

    def describe(self) -> dict:
        return {**super().describe(), "num_modes": len(self.modes()), "std": self.std}


class Ring8DataModule(GaussianMixtureDataModule):
    """8 Gaussians evenly spaced on a circle of radius 2, std 0.02."""

    name = "ring8"
    std = 0.02
    num_classes = 8          # the mixture component is the label (what a conditional variant conditions on)

    @classmethod
    def modes(cls) -> Tensor:
        angles = torch.arange(8, dtype=torch.float64) * (2 * math.pi / 8)
        return (2.0 * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


class Grid25DataModule(GaussianMixtureDataModule):
    """25 Gaussians on the 5×5 grid {-4, -2, 0, 2, 4}², std 0.05."""

    name = "grid25"
    std = 0.05
    num_classes = 25

    @classmethod
    def modes(cls) -> Tensor:
        v = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0])
        return torch.cartesian_prod(v, v)
