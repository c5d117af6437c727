"""Metric registry: a :class:`MetricGroup` computes one or more named scores from generated samples.

Contract: ``group(fake, datamodule, seed=..., fake_labels=...) -> (values, protocols)`` where ``fake`` is a
``(N, *dims)`` float tensor in the data's range ([-1, 1] for images), ``values`` maps each metric name in
``group.names`` to a float (or ``None`` when unavailable) and ``protocols`` maps each name to a dict saying
exactly how it was computed (implementation and version, sample counts, split, features, seed, and
``reason`` when unavailable). A metric knows nothing about the variant that produced the samples.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from torch import Tensor

from ..registry import Registry


@dataclass(frozen=True)
class Metric:
    """One score and its traits, declared on the group that computes it.

    Attributes:
        name: registry name (``fid``, ``modes_covered``, ...).
        higher_is_better: the direction every table, "best run", threshold and tuning step uses.
        cheap: cheap enough to compute during training on a CPU (in-training evaluation, ``--eval-every``);
            Inception features at 299x299 cost seconds per hundred images there, so FID and friends are not.
        summary: one line for listings.
        coverage: counts the modes (or classes) the samples cover; a seed that covers few of them is a collapsed
            seed (:mod:`benchmark.report.aggregate`).
    """

    name: str
    higher_is_better: bool
    cheap: bool = False
    summary: str = ""
    coverage: bool = False


class MetricGroup:
    """Base class: subclasses declare ``metrics`` (their :class:`Metric` traits), ``num_samples`` and the
    constructor keywords a caller may set (``options``), and implement ``__call__``.

    ``names`` and ``higher_is_better`` are derived from ``metrics`` for every subclass.
    """

    metrics: ClassVar[tuple[Metric, ...]] = ()
    options: ClassVar[tuple[str, ...]] = ()     # constructor keywords :meth:`with_options` passes on
    names: ClassVar[tuple[str, ...]] = ()
    higher_is_better: ClassVar[dict[str, bool]] = {}
    num_samples: int = 2500          # generated samples the protocol asks for

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.names = tuple(m.name for m in cls.metrics)
        cls.higher_is_better = {m.name: m.higher_is_better for m in cls.metrics}

    def with_options(self, **options: Any) -> "MetricGroup":
        """This group re-built with the given constructor options (``None`` values and options the group does
        not take are ignored); the registered instance itself when none applies."""
        given = {k: v for k, v in options.items() if v is not None and k in self.options}
        return type(self)(**given) if given else self

    def unsupported(self, datamodule: Any) -> str | None:
        """Why this group cannot score ``datamodule``'s data (``None`` when it can), from its traits alone.

        ``datamodule`` is a datamodule class (checked when options are resolved, before any data is read) or
        a set-up instance (checked again before training: labels and sizes known only once the data is read,
        e.g. an image folder's subfolder classes). Nothing is computed or loaded.
        """
        return None

    def prepare(self, datamodule: Any) -> None:
        """Before training: check what scoring will need (a writable cache) and build what it can ahead (a
        cached classifier), so that a missing resource is an error now, not after training. Default: nothing."""

    def __call__(self, fake: Tensor, datamodule: Any, *, seed: int = 0,
                 fake_labels: Tensor | None = None) -> tuple[dict[str, float | None], dict[str, dict]]:
        raise NotImplementedError


METRIC_GROUPS: Registry[MetricGroup] = Registry("metric")    # metric name -> the group that computes it


def register_metric_group(group: MetricGroup) -> MetricGroup:
    for name in group.names:
        METRIC_GROUPS[name] = group
    return group


def metric(name: str) -> Metric:
    """The traits of metric ``name`` (``KeyError`` listing the valid names)."""
    return next(m for m in get_metric_group(name).metrics if m.name == name)


def lower_is_better(name: str) -> bool:
    return not metric(name).higher_is_better


def cheap_metrics(names: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The names of ``names`` cheap enough to compute during training, in order."""
    return tuple(n for n in names if metric(n).cheap)


def coverage_metrics() -> tuple[str, ...]:
    """The registered metrics declaring the ``coverage`` trait, in registration order."""
    return tuple(n for n in METRIC_GROUPS if metric(n).coverage)


def get_metric_group(name: str) -> MetricGroup:
    """The group computing metric ``name`` (``KeyError`` listing the valid names)."""
    return METRIC_GROUPS.lookup(name)


def supported_metrics(datamodule: Any) -> list[str]:
    """The registered metric names whose group can score ``datamodule`` (a class or an instance), sorted."""
    return sorted(n for n, g in METRIC_GROUPS.items() if g.unsupported(datamodule) is None)


def check_supported(names: list[str] | tuple[str, ...], datamodule: Any) -> None:
    """``ValueError`` naming the metrics of ``names`` that ``datamodule`` cannot be scored on, why, and the
    metrics it supports (unknown names raise ``KeyError`` as in :func:`get_metric_group`)."""
    reasons: dict[str, list[str]] = {}
    for n in names:
        why = get_metric_group(n).unsupported(datamodule)
        if why is not None:
            reasons.setdefault(why, []).append(n)
    if reasons:
        name = getattr(datamodule, "name", "") or type(datamodule).__name__
        bad = "; ".join(f"{', '.join(ns)} ({why})" for why, ns in reasons.items())
        raise ValueError(f"dataset {name!r} cannot be scored on {bad}; choose from the metrics {name!r} "
                         f"supports: {', '.join(supported_metrics(datamodule))}")


def prepare_metrics(names: list[str] | tuple[str, ...], datamodule: Any) -> None:
    """:meth:`MetricGroup.prepare` of every group computing ``names`` (before training)."""
    for group in groups_for(names):
        group.prepare(datamodule)


def groups_for(names: list[str] | tuple[str, ...]) -> list[MetricGroup]:
    """The distinct groups needed to compute ``names``, in first-use order."""
    out: list[MetricGroup] = []
    for n in names:
        g = get_metric_group(n)
        if g not in out:
            out.append(g)
    return out


def sample_requests(names: list[str] | tuple[str, ...], datamodule: Any, *, conditional: bool = False,
                    groups: list[MetricGroup] | None = None,
                    num_samples: int | None = None) -> list[tuple[MetricGroup, int, Tensor | None]]:
    """``(group, sample count, labels or None)`` for each group computing ``names``, in order: what to generate.

    ``groups`` replaces the registered groups (e.g. re-built :meth:`MetricGroup.with_options`); ``num_samples``
    replaces every group's protocol count (in-training evaluation on a small sample). Labels cycle over the
    classes when the generator is conditional.
    """
    import torch

    out = []
    for group in groups if groups is not None else groups_for(names):
        n = num_samples or group.num_samples
        labels = None
        if conditional and getattr(datamodule, "num_classes", 0):
            labels = torch.arange(n) % datamodule.num_classes
        out.append((group, n, labels))
    return out


def evaluate(names: list[str] | tuple[str, ...], sample_fn, datamodule: Any, *, seed: int = 0,
             conditional: bool = False, groups: list[MetricGroup] | None = None,
             num_samples: int | None = None) -> tuple[dict[str, float | None], dict[str, dict]]:
    """Compute ``names``: ``sample_fn(n, labels_or_None) -> Tensor`` draws the generated samples of each group
    (see :func:`sample_requests` for ``groups`` and ``num_samples``)."""
    values: dict[str, float | None] = {}
    protocols: dict[str, dict] = {}
    for group, n, labels in sample_requests(names, datamodule, conditional=conditional, groups=groups,
                                            num_samples=num_samples):
        v, p = group(sample_fn(n, labels), datamodule, seed=seed, fake_labels=labels)
        values.update({k: v[k] for k in group.names if k in names})
        protocols.update({k: p[k] for k in group.names if k in names})
    return values, protocols

