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
from .registry import DATAMODULES, get_datamodule, register_datamodule

for _cls in (Ring8DataModule, Grid25DataModule, DigitsDataModule):
    register_datamodule(_cls)
for _cls in (MNISTDataModule, FashionMNISTDataModule, CIFAR10DataModule, CelebADataModule, StackedMNISTDataModule,
             ImageFolderDataModule):
    register_datamodule(_cls)
# a new dataset: one file whose class is decorated with @register_datamodule (from .registry), imported here


__all__ = ["DATAMODULES", "GANDataModule", "TensorBatchLoader", "get_datamodule", "register_datamodule",
           "scale_to_unit", "unit_to_uint8", "Ring8DataModule", "Grid25DataModule", "DigitsDataModule",
           "GaussianMixtureDataModule", "DatasetMissingError", "TorchvisionImageDataModule", "MNISTDataModule",
           "FashionMNISTDataModule", "CIFAR10DataModule", "CelebADataModule", "StackedMNISTDataModule",
           "ImageFolderDataModule"]
