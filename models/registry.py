"""Variant registry: name -> GANModule subclass. Adding a variant = one file + one line in variants/__init__."""
from __future__ import annotations

from .base import GANModule

VARIANTS: dict[str, type[GANModule]] = {}


def register_variant(cls: type[GANModule]) -> type[GANModule]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} has no name")
    if cls.name in VARIANTS and VARIANTS[cls.name] is not cls:
        raise ValueError(f"variant {cls.name!r} is registered twice")
    VARIANTS[cls.name] = cls
    return cls


def get_variant(name: str) -> type[GANModule]:
    """Look up a variant class; unknown names raise ``KeyError`` listing the valid ones."""
    try:
        return VARIANTS[name]
    except KeyError:
        raise KeyError(f"unknown variant {name!r}; choose one of: {', '.join(sorted(VARIANTS))}") from None
