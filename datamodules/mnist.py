"""MNIST and Fashion-MNIST: 1×28×28 ``uint8`` images with 10 classes, read by torchvision from the IDX files."""
from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor

from .vision import DatasetMissingError, TorchvisionImageDataModule

IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


class MNISTDataModule(TorchvisionImageDataModule):
    """MNIST (LeCun et al. 1998) at its native 1×28×28: 60,000 train / 10,000 test images, labels 0..9.

    Files: ``{root}/MNIST/raw/`` with the four uncompressed IDX files (torchvision's layout; ``download=True``
    fetches and unpacks them). Lucic et al. (2018) train at 28×28 and score FID against the test split; the
    default here scores against the training split — pass ``reference_split="test"`` for their protocol.

    Raises:
        DatasetMissingError: at ``setup()`` when the IDX files are absent.
    """

    name = "mnist"
    dims = (1, 28, 28)
    num_classes = 10
    torchvision_class: ClassVar[str] = "MNIST"
    files = IDX_FILES

    @property
    def folder(self) -> str:
        return f"{self.torchvision_class}/raw"          # torchvision's layout: MNIST/raw, FashionMNIST/raw

    def load_split(self, split: str) -> tuple[Tensor, Tensor]:
        ds = self.open_split(split)
        x = ds.data                                   # uint8 (N, 28, 28), parsed from the IDX file
        y = torch.as_tensor(ds.targets, dtype=torch.long)
        if x.shape[0] != y.shape[0]:                  # torchvision parses the two files apart and never compares
            prefix = "train" if split == "train" else "t10k"
            images, labels = (self.directory / f"{prefix}-{kind}-idx{d}-ubyte" for kind, d in (("images", 3),
                                                                                                 ("labels", 1)))
            raise DatasetMissingError(f"{self.name}: {images} holds {x.shape[0]} images but {labels} holds "
                                      f"{y.shape[0]} labels: one of them is truncated or from another copy; "
                                      f"replace both files (download command: {self.download_command()})")
        return x.unsqueeze(1).contiguous(), y


class FashionMNISTDataModule(MNISTDataModule):
    """Fashion-MNIST (Xiao et al. 2017): Zalando article images in MNIST's format, 1×28×28, 10 classes.

    Files: ``{root}/FashionMNIST/raw/`` with the four uncompressed IDX files.
    """

    name = "fashion_mnist"
    torchvision_class: ClassVar[str] = "FashionMNIST"
