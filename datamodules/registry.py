"""Dataset registry: name -> GANDataModule subclass. Adding a dataset = one file (its class decorated with
:func:`register_datamodule`) + one import line in ``datamodules/__init__.py``."""
from __future__ import annotations

from benchmark.registry import Registry

from .base import GANDataModule

DATAMODULES: Registry[type[GANDataModule]] = Registry("dataset")


def register_datamodule(cls: type[GANDataModule]) -> type[GANDataModule]:
    """Add a datamodule class to the registry under its ``name`` (usable as a class decorator)."""
    return DATAMODULES.register(cls.name, cls)


def get_datamodule(name: str) -> type[GANDataModule]:
    """Look up a datamodule class; unknown names raise ``KeyError`` listing the valid ones."""
    return DATAMODULES.lookup(name)
