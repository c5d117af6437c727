"""Variant registry: name -> GANModule subclass. Adding a variant = one file + one line in variants/__init__."""
from __future__ import annotations

from benchmark.registry import Registry

from .base import GANModule

VARIANTS: Registry[type[GANModule]] = Registry("variant")


def register_variant(cls: type[GANModule]) -> type[GANModule]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return VARIANTS.register(cls.name, cls)


def get_variant(name: str) -> type[GANModule]:
    """Look up a variant class; unknown names raise ``KeyError`` listing the valid ones."""
    return VARIANTS.lookup(name)
