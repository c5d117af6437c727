"""Stacked MNIST: three MNIST digits stacked as the R, G, B channels of one 3×28×28 image — 1,000 modes.

Construction (VEEGAN, Srivastava et al. 2017; PacGAN, Lin et al. 2018, ``stacked_MNIST_experiments/*/model.py``):
pool MNIST's train and test images (70,000), draw ``num_samples`` index triples uniformly with replacement, and put
image ``i1`` in channel R, ``i2`` in G, ``i3`` in B. The mode of a sample is its digit triple, kept as the label
``100·d1 + 10·d2 + d3`` (0..999) so that mode coverage and KL to the uniform mode distribution can be scored by
classifying each channel of generated samples. PacGAN's VEEGAN experiment trains on 128,000 such images
(``num_training_sample: 128000`` in its config; the class default there, 25,600, is the Unrolled-GAN size); we
default to 128,000. The draw uses its own ``data_seed``, so every run and variant sees the same training set.
"""
from __future__ import annotations

from typing import ClassVar, Optional

import torch
from torch import Tensor

from .mnist import MNISTDataModule
from .vision import TorchvisionImageDataModule


class StackedMNISTDataModule(TorchvisionImageDataModule):
    """Stacked MNIST as ``uint8`` 3×28×28 with the mode label ``100·d1 + 10·d2 + d3`` (``int64``, 0..999).

    Args:
        root, download: where MNIST lives (``{root}/MNIST/raw/``) and whether torchvision may fetch it.
        split: MNIST images the triples are drawn from: ``"all"`` (train + test, as PacGAN), ``"train"`` or
            ``"test"``.
        num_samples: size of the stacked training set (128,000 in PacGAN's VEEGAN experiment; 25,600 in
            Unrolled GAN / PacGAN's unrolled experiments).
        data_seed: seed of the draw of triples (independent of the run's ``seed``, which only shuffles).

    Raises:
        DatasetMissingError: at ``setup()`` when MNIST's IDX files are absent.
    """

    name = "stacked_mnist"
    dims = (3, 28, 28)
    num_classes = 1000
    num_modes: ClassVar[int] = 1000
    metrics = ("stacked_modes", "stacked_kl", "fid", "kid")
    folder = "MNIST/raw"
    torchvision_class: ClassVar[str] = "MNIST"
    splits: ClassVar[tuple[str, ...]] = ("all", "train", "test")

    def __init__(self, batch_size: int = 64, seed: int = 0, on_device: bool = False, root: Optional[str] = None,
                 download: bool = False, split: str = "all", num_samples: int = 128_000, data_seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device, root=root, download=download,
                         split=split)
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        self.num_samples, self.data_seed = num_samples, data_seed
        self._mnist = MNISTDataModule(root=str(self.root), download=download)

    def required_files(self) -> list[str]:
        return self._mnist.required_files()

    def download_command(self) -> str:
        return self._mnist.download_command()

    def mnist(self, split: str) -> tuple[Tensor, Tensor]:
        """The source MNIST digits ``(uint8 (N, 1, 28, 28), int64 (N,))`` of ``split`` (train/test/all), e.g. to
        train the digit classifier that scores generated samples."""
        if split == "all":
            xs, ys = zip(*(self._mnist.load_split(s) for s in ("train", "test")))
            return torch.cat(xs), torch.cat(ys)
        return self._mnist.load_split(split)

    @staticmethod
    def mode_label(d1: Tensor, d2: Tensor, d3: Tensor) -> Tensor:
        """Mode index ``100·d1 + 10·d2 + d3`` of the digits in channels R, G, B."""
        return 100 * d1.long() + 10 * d2.long() + d3.long()

    @staticmethod
    def digits_of(mode: Tensor) -> Tensor:
        """Inverse of :meth:`mode_label`: ``(N,)`` modes -> ``(N, 3)`` digits (R, G, B)."""
        mode = mode.long()
        return torch.stack([mode // 100, (mode // 10) % 10, mode % 10], dim=1)

    def stack(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """Draw ``num_samples`` triples from digits ``x`` ``(N, 1, 28, 28)`` with labels ``y`` (seeded by
        ``data_seed``): returns ``(uint8 (num_samples, 3, 28, 28), int64 modes)``."""
        g = torch.Generator().manual_seed(self.data_seed)
        ids = torch.randint(x.shape[0], (self.num_samples, 3), generator=g)
        stacked = x[:, 0][ids]                        # (num_samples, 3, 28, 28): channel c is image ids[:, c]
        return stacked.contiguous(), self.mode_label(y[ids[:, 0]], y[ids[:, 1]], y[ids[:, 2]])

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        return self.stack(*self.mnist(split))

    def describe(self) -> dict:
        return {**super().describe(), "num_modes": self.num_modes, "data_seed": self.data_seed,
                "construction": f"{self.num_samples} uniform triples (with replacement, data_seed={self.data_seed}) "
                                f"of MNIST {self.split} images as R, G, B; label 100*d1 + 10*d2 + d3"}
