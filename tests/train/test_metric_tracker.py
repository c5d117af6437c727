"""benchmark/metric_callback.py: in-training scores of a small sample, wired through ``eval_every``."""
from __future__ import annotations

import math

import pytest

from benchmark.train.run import execute

TINY = {"variant": "nsgan", "iterations": 20, "hidden": 8, "batch_size": 32, "log_every": 10, "wandb": "disabled",
        "save_samples": 0}


def run(tmp_path, **options):
    rec = execute({**TINY, "results_dir": str(tmp_path), **options})
    assert rec["status"] == "completed", rec.get("error")
    return rec


def eval_rows(history: list[dict]) -> dict[int, dict]:
    return {row["iteration"]: {k: v for k, v in row.items() if k.startswith("eval/")}
            for row in history if any(k.startswith("eval/") for k in row)}


def training_rows(history: list[dict]) -> list[dict]:
    rows = [{k: v for k, v in row.items() if not k.startswith("eval/")} for row in history]
    return [row for row in rows if set(row) != {"iteration"}]


def test_ring8_scores_every_n_iterations_without_changing_training(tmp_path):
    with_cb = run(tmp_path / "a", data="ring8", num_samples=2000, eval_every=5, eval_samples=300)
    without = run(tmp_path / "b", data="ring8", num_samples=2000)
    rows = eval_rows(with_cb["history"])
    assert sorted(rows) == [5, 10, 15, 20]                  # 10 and 20 share the flush rows of log_every=10
    for scores in rows.values():
        assert set(scores) == {"eval/mmd", "eval/modes_covered", "eval/modes_covered_strict", "eval/high_quality",
                               "eval/reverse_kl"}
        assert 0 <= scores["eval/modes_covered"] <= 8 and scores["eval/modes_covered"] == int(scores["eval/modes_covered"])
        assert 0 <= scores["eval/high_quality"] <= 100
        assert scores["eval/reverse_kl"] >= 0 or math.isinf(scores["eval/reverse_kl"])
    assert with_cb["run_id"] == without["run_id"]           # execution options: the run's identity is unchanged
    assert training_rows(with_cb["history"]) == without["history"]       # RNG restored: identical training
    assert with_cb["metrics"] == without["metrics"]         # final scores: full protocol, same values
    assert with_cb["protocol"]["modes_covered"]["num_generated"] == 2500


def test_digits_gets_domain_fd(tmp_path):
    rec = run(tmp_path, data="digits", iterations=10, eval_every=5, eval_samples=200)
    rows = eval_rows(rec["history"])
    assert sorted(rows) == [5, 10]
    for scores in rows.values():
        assert set(scores) == {"eval/domain_fd", "eval/domain_is", "eval/class_coverage"}
        assert scores["eval/domain_fd"] > 0 and 1 <= scores["eval/domain_is"] <= 10
        assert 0 <= scores["eval/class_coverage"] <= 10
    assert rec["protocol"]["domain_fd"]["num_generated"] == 2500


def test_tracker_logs_restores_modes_and_skips_other_ranks():
    import torch

    from benchmark.train.metric_tracker import MetricTracker
    from datamodules import get_datamodule
    from models import get_variant

    class Logger:
        def __init__(self):
            self.logged = []

        def log_metrics(self, metrics, step=None):
            self.logged.append((step, metrics))

    class Trainer:
        def __init__(self, dm, zero=True):
            self.datamodule, self.is_global_zero, self.logger = dm, zero, Logger()

    dm = get_datamodule("ring8")(batch_size=32, num_samples=500)
    dm.setup()
    model = get_variant("nsgan")(data_shape=dm.dims, num_classes=0, data_kind=dm.kind, hidden=8)
    model.train()
    model.discriminators.eval()                              # a mixed state must come back as it was
    cb = MetricTracker(3, ("modes_covered",), 50)
    trainer = Trainer(dm)
    torch.manual_seed(1)
    before = torch.get_rng_state()
    for it in (1, 2, 3, 3, 4):                                # iteration 3 twice: n_critic > 1
        model.iteration = it
        cb.on_train_batch_end(trainer, model, None, None, 0)
    assert torch.equal(torch.get_rng_state(), before)
    assert trainer.logger.logged == [(3, {"eval/modes_covered": model.history[0]["eval/modes_covered"]})]
    assert model.history == [{"iteration": 3, "eval/modes_covered": model.history[0]["eval/modes_covered"]}]
    assert model.generator.training and not model.discriminators.training
    assert len(cb.seconds) == 1
    other = Trainer(dm, zero=False)                          # rank > 0: nothing at all
    model.iteration = 6
    cb2 = MetricTracker(3, ("modes_covered",), 50)
    cb2.on_train_batch_end(other, model, None, None, 0)
    assert other.logger.logged == [] and len(model.history) == 1
    cb.evaluate(trainer, model, 3)                           # already scored (a resumed checkpoint): no-op
    assert len(model.history) == 1 and len(trainer.logger.logged) == 1


def test_bad_arguments_are_refused():
    from benchmark.score import cheap_metrics
    from benchmark.train.metric_tracker import MetricTracker
    from benchmark.train.options import resolve
    from models import ConfigError

    with pytest.raises(ValueError):
        MetricTracker(0, ("modes_covered",), 100)
    with pytest.raises(ValueError):
        MetricTracker(5, (), 100)
    with pytest.raises(KeyError):
        MetricTracker(5, ("no_such_metric",), 100)
    with pytest.raises(ConfigError):
        resolve({"eval_every": -1})
    with pytest.raises(ConfigError):
        resolve({"eval_samples": 1})
    assert cheap_metrics(["fid", "domain_fd", "kid", "domain_is"]) == ("domain_fd", "domain_is")
