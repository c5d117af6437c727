"""Shared LightningDataModules: every variant sees the same data, split and preprocessing."""
from __future__ import annotations

from .base import GANDataModule, TensorBatchLoader, scale_to_unit, unit_to_uint8
from .digits import DigitsDataModule
from .toy import GaussianMixtureDataModule, Grid25DataModule, Ring8DataModule
from .vision import DatasetMissingError, TorchvisionImageDataModule
from .mnist import FashionMNISTDataModule, MNISTDataModule
from .cifar import CIFAR10DataModule
from .celeba import CelebADataModule
from .stacked_mnist import StackedMNISTDataModule
from .image_folder import ImageFolderDataModule

DATAMODULES: dict[str, type[GANDataModule]] = {}


def register_datamodule(cls: type[GANDataModule]) -> type[GANDataModule]:
    """Add a datamodule class to the registry under its ``name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    DATAMODULES[cls.name] = cls
    return cls


for _cls in (Ring8DataModule, Grid25DataModule, DigitsDataModule):
    register_datamodule(_cls)
for _cls in (MNISTDataModule, FashionMNISTDataModule, CIFAR10DataModule, CelebADataModule, StackedMNISTDataModule,
             ImageFolderDataModule):
    register_datamodule(_cls)


def get_datamodule(name: str) -> type[GANDataModule]:
    """Look up a datamodule class; unknown names raise ``KeyError`` listing the valid ones."""
    try:
        return DATAMODULES[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATAMODULES))}") from None


__all__ = ["DATAMODULES", "GANDataModule", "TensorBatchLoader", "get_datamodule", "register_datamodule",
           "scale_to_unit", "unit_to_uint8", "Ring8DataModule", "Grid25DataModule", "DigitsDataModule",
           "GaussianMixtureDataModule", "DatasetMissingError", "TorchvisionImageDataModule", "MNISTDataModule",
           "FashionMNISTDataModule", "CIFAR10DataModule", "CelebADataModule", "StackedMNISTDataModule",
           "ImageFolderDataModule"]
