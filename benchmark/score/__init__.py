"""Scoring: the metric registry and the metric groups (mode coverage, domain classifier, Inception).

A metric knows nothing about the variant that produced the samples. Importing this package registers every
group; :mod:`benchmark.score.registry` holds the contract and the registry itself.
"""
from .registry import (METRIC_GROUPS, Metric, MetricGroup, cheap_metrics, check_supported, coverage_metrics, evaluate,
                       get_metric_group, groups_for, lower_is_better, metric, prepare_metrics, register_metric_group,
                       sample_requests, supported_metrics)
from . import toy  # noqa: F401  (registers the toy metrics)
from . import domain, fidelity  # noqa: F401  (registers the image metrics)

__all__ = ["METRIC_GROUPS", "Metric", "MetricGroup", "cheap_metrics", "check_supported", "coverage_metrics", "evaluate",
           "get_metric_group", "groups_for", "lower_is_better", "metric", "prepare_metrics", "register_metric_group",
           "sample_requests", "supported_metrics"]
