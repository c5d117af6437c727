"""Metric registry: a :class:`MetricGroup` computes one or more named scores from generated samples.

Contract: ``group(fake, datamodule, seed=..., fake_labels=...) -> (values, protocols)`` where ``fake`` is a
``(N, *dims)`` float tensor in the data's range ([-1, 1] for images), ``values`` maps each metric name in
``group.names`` to a float (or ``None`` when unavailable) and ``protocols`` maps each name to a dict saying
exactly how it was computed (implementation and version, sample counts, split, features, seed, and
``reason`` when unavailable). A metric knows nothing about the variant that produced the samples.
"""
from __future__ import annotations

from typing import Any, ClassVar

from torch import Tensor


class MetricGroup:
    """Base class; subclasses set ``names``, ``higher_is_better`` and ``num_samples`` and implement ``__call__``."""

    names: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[dict[str, bool]] = {}
    num_samples: int = 2500          # generated samples the protocol asks for

    def __call__(self, fake: Tensor, datamodule: Any, *, seed: int = 0,
                 fake_labels: Tensor | None = None) -> tuple[dict[str, float | None], dict[str, dict]]:
        raise NotImplementedError


METRIC_GROUPS: dict[str, MetricGroup] = {}      # metric name -> the group that computes it


def register_metric_group(group: MetricGroup) -> MetricGroup:
    for name in group.names:
        METRIC_GROUPS[name] = group
    return group


def get_metric_group(name: str) -> MetricGroup:
    try:
        return METRIC_GROUPS[name]
    except KeyError:
        raise KeyError(f"unknown metric {name!r}; choose one of: {', '.join(sorted(METRIC_GROUPS))}") from None


def groups_for(names: list[str] | tuple[str, ...]) -> list[MetricGroup]:
    """The distinct groups needed to compute ``names``, in first-use order."""
    out: list[MetricGroup] = []
    for n in names:
        g = get_metric_group(n)
        if g not in out:
            out.append(g)
    return out


def evaluate(names: list[str] | tuple[str, ...], sample_fn, datamodule: Any, *, seed: int = 0,
             conditional: bool = False) -> tuple[dict[str, float | None], dict[str, dict]]:
    """Compute ``names``: ``sample_fn(n, labels_or_None) -> Tensor`` draws generated samples per group."""
    import torch

    values: dict[str, float | None] = {}
    protocols: dict[str, dict] = {}
    for group in groups_for(names):
        labels = None
        if conditional and getattr(datamodule, "num_classes", 0):
            labels = torch.arange(group.num_samples) % datamodule.num_classes
        fake = sample_fn(group.num_samples, labels)
        v, p = group(fake, datamodule, seed=seed, fake_labels=labels)
        values.update({k: v[k] for k in group.names if k in names})
        protocols.update({k: p[k] for k in group.names if k in names})
    return values, protocols

