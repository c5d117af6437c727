"""CIFAR-10: 3×32×32 ``uint8`` colour images with 10 classes, read by torchvision from the pickled batches."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .vision import TorchvisionImageDataModule

CIFAR10_FILES = ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch",
                 "batches.meta")


class CIFAR10DataModule(TorchvisionImageDataModule):
    """CIFAR-10 (Krizhevsky 2009): 50,000 train / 10,000 test 3×32×32 images, labels 0..9.

    Files: ``{root}/cifar-10-batches-py/`` (the unpacked ``cifar-10-python.tar.gz``). torchvision md5-checks every
    batch file, so a truncated or altered copy is reported as corrupted rather than silently loaded.

    Raises:
        DatasetMissingError: at ``setup()`` when a batch file is absent or fails the md5 check.
    """

    name = "cifar10"
    dims = (3, 32, 32)
    num_classes = 10
    folder = "cifar-10-batches-py"
    torchvision_class: ClassVar[str] = "CIFAR10"
    files = CIFAR10_FILES

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        ds = self.open_split(split)
        x = torch.from_numpy(ds.data).permute(0, 3, 1, 2).contiguous()   # (N, 32, 32, 3) HWC -> (N, 3, 32, 32)
        return x, torch.as_tensor(ds.targets, dtype=torch.long)
