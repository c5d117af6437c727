"""A cheap in-training metric: :class:`MetricTracker` scores a small sample every ``every_n_iterations``.

The suite's own metric groups (:mod:`benchmark.score`) score ``num_samples`` generated samples instead of their
protocol's count, so a run gets a metric-vs-iteration curve at a small cost; the run's final scores still use
the full protocol (:mod:`benchmark.train.run`, unchanged). Only metrics whose traits say ``cheap``
(:func:`benchmark.score.cheap_metrics`) run in training.
"""
from __future__ import annotations

import time
import warnings
from typing import Any

import pytorch_lightning as pl
import torch

from ..score.registry import evaluate, groups_for
from .callbacks import PeriodicCallback
from .rng import isolated_rng

def score_sample(names: tuple[str, ...], sample_fn, datamodule: Any, num_samples: int, *, seed: int = 0,
                 conditional: bool = False) -> dict[str, float | None]:
    """:func:`benchmark.score.evaluate` of ``names`` on ``num_samples`` samples per group (not the protocol's)."""
    return evaluate(names, sample_fn, datamodule, seed=seed, conditional=conditional, num_samples=num_samples)[0]


class MetricTracker(PeriodicCallback):
    """Score ``num_samples`` generated samples with ``metrics`` every ``every_n_iterations`` GAN iterations.

    The scores go into the module's ``history`` as ``eval/<metric>`` (into the row of that iteration when
    ``flush_logs`` wrote one, else a new row ``{"iteration": it, ...}``) and to ``trainer.logger`` at
    ``step=iteration``. Between evaluation points the hook compares Python ints and returns.

    At an evaluation point: the global RNG states (torch, numpy, python; CUDA when in use) are saved and
    restored around the work (:func:`benchmark.train.rng.isolated_rng`), so training is bit-identical with and
    without this callback; the noise is drawn from ``seed``, the same at every point. Every submodule's
    train/eval mode is restored. Under DDP only global rank 0 generates and scores, on its own replica of the
    generator (no collective call); the other ranks return at once. The final iteration is scored too when it
    is a multiple of ``every_n_iterations`` (the curve's last point, at the same small sample size).

    Args:
        every_n_iterations: GAN iterations between evaluations (>= 1).
        metrics: metric names of :mod:`benchmark.score` (normally cheap ones, :func:`benchmark.score.cheap_metrics`).
        num_samples: generated samples per evaluation (>= 2: a Fréchet distance needs two).
        seed: seed of the generator noise and of the metric groups.

    Attributes:
        seconds: wall time of each evaluation done so far (sampling and scoring).

    Raises:
        ValueError: ``every_n_iterations`` < 1, ``num_samples`` < 2, or no metric; KeyError: an unknown metric.
    """

    def __init__(self, every_n_iterations: int, metrics: tuple[str, ...], num_samples: int, seed: int = 0) -> None:
        if every_n_iterations < 1 or num_samples < 2 or not metrics:
            raise ValueError(f"every_n_iterations={every_n_iterations} must be >= 1, num_samples={num_samples} "
                             f">= 2, and metrics={metrics!r} not empty")
        groups_for(metrics)                                  # KeyError now, not in the middle of training
        super().__init__(every_n_iterations)
        self.metrics, self.num_samples, self.seed = tuple(metrics), num_samples, seed
        self.seconds: list[float] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = pl_module.iteration
        if self.due(it) and trainer.is_global_zero:
            self.evaluate(trainer, pl_module, it)

    def evaluate(self, trainer: pl.Trainer, pl_module: Any, iteration: int) -> dict[str, float | None]:
        """Score the model now and record the values for ``iteration``; returns them (``{}`` if already there)."""
        return self.score_into(pl_module, trainer.datamodule, trainer.logger, iteration, self.seed)

    def score_into(self, pl_module: Any, datamodule: Any, logger: Any, iteration: int,
                   seed: int) -> dict[str, float | None]:
        """:meth:`evaluate` of one module on ``datamodule`` with the noise and metric seed ``seed``, into its
        ``history`` and ``logger`` (``None``: no logging); a population scores each member with this."""
        history = pl_module.history
        row = history[-1] if history and history[-1].get("iteration") == iteration else None
        if row is not None and any(k.startswith("eval/") for k in row):
            return {}                                         # resumed from a checkpoint taken after scoring
        t0 = time.perf_counter()
        try:
            with isolated_rng(seed, pl_module), torch.no_grad():
                values = score_sample(self.metrics, pl_module.sample, datamodule, self.num_samples,
                                      seed=seed, conditional=bool(getattr(pl_module, "cond_classes", 0)))
        except Exception as e:                                # e.g. non-finite samples before divergence is seen
            warnings.warn(f"in-training metrics at iteration {iteration} failed: {type(e).__name__}: {e}")
            return {}
        self.seconds.append(time.perf_counter() - t0)
        scores = {f"eval/{k}": v for k, v in values.items()}
        if row is None:
            history.append({"iteration": iteration, **scores})
        else:
            row.update(scores)
        if logger is not None:
            logger.log_metrics({k: v for k, v in scores.items() if v is not None}, step=iteration)
        return scores
