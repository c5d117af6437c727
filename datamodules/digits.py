"""scikit-learn's 8×8 handwritten digits (1,797 images, 10 classes): ships with the install."""
from __future__ import annotations

import torch
from torch import Tensor

from .base import GANDataModule


class DigitsDataModule(GANDataModule):
    """UCI optical digits as ``uint8`` 1×8×8 images (pixel values 0..16 rescaled to 0..255), with labels."""

    name = "digits"
    kind = "image"
    dims = (1, 8, 8)
    num_classes = 10
    metrics = ("domain_fd", "domain_is", "class_coverage")

    def __init__(self, batch_size: int = 128, seed: int = 0, on_device: bool = False) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device)

    def load(self) -> tuple[Tensor, Tensor]:
        from sklearn.datasets import load_digits

        d = load_digits()
        x = torch.from_numpy(d.images).mul(255.0 / 16.0).round().clamp(0, 255).to(torch.uint8)
        return x.unsqueeze(1).contiguous(), torch.from_numpy(d.target).long()
