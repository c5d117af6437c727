"""Name registries: the variants (:data:`models.VARIANTS`), the datasets (:data:`datamodules.DATAMODULES`) and
the metrics (:data:`benchmark.score.METRIC_GROUPS`) are each a :class:`Registry`, one ``dict`` from name to what
it names, in registration order. A leaf module: standard library only.
"""
from __future__ import annotations

from typing import Dict, TypeVar

T = TypeVar("T")


class Registry(Dict[str, T]):
    """``name -> object`` (a ``dict``); ``kind`` names what it holds in its messages (``variant``, ``dataset``)."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` and return it; ``ValueError`` for an empty name or a name another object
        holds (registering the same object again is a no-op)."""
        if not name:
            raise ValueError(f"{getattr(obj, '__name__', obj)} has no name")
        if self.get(name, obj) is not obj:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self[name] = obj
        return obj

    def lookup(self, name: str) -> T:
        """The object registered under ``name``; ``KeyError`` listing the valid names."""
        try:
            return self[name]
        except KeyError:
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of: {', '.join(sorted(self))}") from None


__all__ = ["Registry"]
