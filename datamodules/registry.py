"""Dataset registry: name -> GANDataModule subclass. Adding a dataset = one file (its class decorated with
:func:`register_datamodule`) + one import line in ``datamodules/__init__.py``."""
from __future__ import annotations

from .base import GANDataModule

DATAMODULES: dict[str, type[GANDataModule]] = {}


def register_datamodule(cls: type[GANDataModule]) -> type[GANDataModule]:
    """Add a datamodule class to the registry under its ``name`` (usable as a class decorator)."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    DATAMODULES[cls.name] = cls
    return cls


def get_datamodule(name: str) -> type[GANDataModule]:
    """Look up a datamodule class; unknown names raise ``KeyError`` listing the valid ones."""
    try:
        return DATAMODULES[name]
    except KeyError:
        raise KeyError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATAMODULES))}") from None
