"""Each metric's traits live on the group that computes it; every consumer reads them from the registry."""
from __future__ import annotations

import pytest
import torch

import datamodules
from benchmark import score
from benchmark.report.aggregate import aggregate, primary_metric
from benchmark.score.registry import METRIC_GROUPS, Metric, MetricGroup, register_metric_group


def test_every_registered_metric_declares_its_traits_once():
    for name, group in METRIC_GROUPS.items():
        declared = [m for m in group.metrics if m.name == name]
        assert len(declared) == 1, name
        assert group.higher_is_better[name] is declared[0].higher_is_better


@pytest.mark.parametrize("name, lower", [("fid", True), ("kid", True), ("domain_fd", True), ("reverse_kl", True),
                                         ("stacked_kl", True), ("modes_covered", False), ("is", False),
                                         ("precision", False)])
def test_directions_are_the_published_ones(name, lower):
    assert score.lower_is_better(name) is lower


def test_inception_metrics_are_not_cheap_and_the_small_ones_are():
    assert score.cheap_metrics(["fid", "kid", "domain_fd", "modes_covered", "stacked_modes"]) == \
        ("domain_fd", "modes_covered")


def test_a_new_metric_is_one_class_and_one_registration(monkeypatch):
    class Spread(MetricGroup):
        metrics = (Metric("spread", False, cheap=True, summary="std of the samples"),)

        def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
            return {"spread": float(fake.std())}, {"spread": {"implementation": "test"}}

    monkeypatch.setitem(METRIC_GROUPS, "spread", None)          # restored after the test
    register_metric_group(Spread())
    assert Spread.names == ("spread",) and score.lower_is_better("spread") and score.cheap_metrics(["spread"])
    values, protocols = score.evaluate(["spread"], lambda n, labels: torch.ones(n, 2), None)
    assert values == {"spread": 0.0} and protocols["spread"]["implementation"] == "test"
    # the report's "best" follows the declared direction (lower here)
    runs = [{"run_id": f"r{s}", "variant": "nsgan", "dataset": "ring8", "seed": s, "status": "completed",
             "metrics": {"spread": v}, "config": {}} for s, v in enumerate((3.0, 1.0, 2.0))]
    (row,) = aggregate(runs)
    assert row.best == 1.0 and row.best_run == "r1"


def test_with_options_rebuilds_only_groups_that_take_the_option():
    fid = score.get_metric_group("fid")
    toy = score.get_metric_group("modes_covered")
    rebuilt = fid.with_options(num_real=123, device="cpu")
    assert rebuilt is not fid and rebuilt.num_real == 123 and rebuilt.device == "cpu"
    assert toy.with_options(num_real=123) is toy and fid.with_options(num_real=None) is fid


def test_primary_metric_is_declared_by_the_datamodule():
    assert datamodules.get_datamodule("ring8").primary_metric() == "mmd"
    assert datamodules.get_datamodule("digits").primary_metric() == "domain_fd"
    assert datamodules.get_datamodule("cifar10").primary_metric() == "fid"
    assert primary_metric("digits", ["class_coverage", "domain_fd"]) == "domain_fd"   # not alphabetical
    assert primary_metric("digits", ["class_coverage"]) == "class_coverage"          # not scored: the first
    # runs from before mmd was ring8's primary metric: the first declared metric they scored, not alphabetical
    assert primary_metric("ring8", ["high_quality", "modes_covered", "reverse_kl"]) == "modes_covered"
