"""The per-member side of a population run: one W&B logger per member, in-training scores and sample plots per
member, and the population's checkpoint identity.

A population (:class:`models.population.GANPopulation`) trains S runs in one ``Trainer`` with no Lightning
logger of its own; each member gets what its single run would have:

- **W&B**: one run per member (:func:`member_loggers`), named by the member's run id, in the sweep's group,
  with its own configuration; the population's log flush sends each member's row to its logger
  (``GANPopulation.member_loggers``) and the runner logs each member's final scores and finishes its run.
- **in-training scores** (``eval_every``, :class:`MemberMetricTracker`) and **sample plots** (``sample_every``
  with W&B on, :class:`MemberSampleLogger`): at each due iteration every member still training is taken out of
  the stack as a stand-alone module of its variant (:meth:`~models.population.GANPopulation.member`, built with
  the global RNG isolated) and scored or plotted exactly as :class:`~benchmark.train.metric_tracker.MetricTracker`
  and :class:`~benchmark.train.callbacks.SampleLogger` do for its single run, with the member's seed: the
  ``eval/<metric>`` values of member ``k`` are those of the single run of seed ``k`` (the same weights, the same
  fixed-seed noise, the same reference draws).
- **checkpoints**: one directory per population (:func:`population_checkpoint_key`), compared on resume
  against :func:`population_config` (the shared configuration, the seeds and each member's optimiser numbers).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl

from . import tracking
from .callbacks import SampleLogger
from .metric_tracker import MetricTracker
from .rng import isolated_rng


def members_now(pop: Any, which: list[int] | None = None) -> Iterator[tuple[int, Any]]:
    """``(k, member k as a stand-alone module)`` for the members still training (and those recorded diverged at
    this iteration, as their single run's callbacks still act on its last row), restricted to ``which``. Building
    a member draws initial weights from the global RNG: that is isolated, so training never sees it."""
    for k in pop.live_members():
        if which is not None and k not in which:
            continue
        with isolated_rng():
            module = pop.member(k)
        yield k, module


class MemberMetricTracker(MetricTracker):
    """:class:`~benchmark.train.metric_tracker.MetricTracker` for every member of a population: member ``k`` is
    scored with seed ``seeds[k]`` into its own history and logger (``loggers[k]``, or none)."""

    def __init__(self, every_n_iterations: int, metrics: tuple[str, ...], num_samples: int, datamodule: Any,
                 loggers: list[Any]) -> None:
        super().__init__(every_n_iterations, metrics, num_samples)
        self.datamodule, self.loggers = datamodule, loggers

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = pl_module.iteration
        if self.due(it) and trainer.is_global_zero:
            for k, member in members_now(pl_module):
                self.score_into(member, self.datamodule, self.loggers[k], it, pl_module.seeds[k])


class MemberSampleLogger(SampleLogger):
    """:class:`~benchmark.train.callbacks.SampleLogger` for every member of a population that has a logger."""

    def __init__(self, every_n_iterations: int, datamodule: Any, loggers: list[Any]) -> None:
        super().__init__(every_n_iterations)
        self.datamodule, self.loggers = datamodule, loggers

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = pl_module.iteration
        if it >= pl_module.cfg.iterations or not self.due(it) or not trainer.is_global_zero:
            return
        for k, member in members_now(pl_module, [k for k, lg in enumerate(self.loggers) if lg is not None]):
            self.log_samples(self.loggers[k], self.datamodule, member, it)


def member_loggers(records: list[dict], runs: list[Any], results_dir: Path) -> list[Any]:
    """One W&B logger per member (``None`` each when W&B is disabled), as :func:`benchmark.train.run.prepare`
    makes a single run's, with the member's module hyper-parameters in its ``model`` section."""
    out = []
    for rec, res in zip(records, runs):
        r = res.run
        logger = tracking.make_logger(rec["run_id"], rec["config"], requested=r.wandb, project=r.project,
                                      group=r.group, tags=[r.variant, r.data, f"seed{r.seed}", "population"],
                                      save_dir=os.environ.get("WANDB_DIR") or ".", fallback_dir=results_dir)
        out.append(logger)
    return out


def log_member_hyperparams(loggers: list[Any], pop: Any) -> None:
    """Each member's module hyper-parameters (its ``Config``, data shape) into its W&B ``model`` section, what
    Lightning logs for a single run at fit start."""
    import dataclasses

    t = pop.template
    for logger, cfg in zip(loggers, pop.cfgs):
        if logger is not None:
            logger.log_hyperparams({"data_shape": list(t.data_shape), "num_classes": t.num_classes,
                                    "data_kind": t.data_kind, **dataclasses.asdict(cfg)})


def population_config(configs: list[dict[str, Any]], member_options: tuple[str, ...]) -> dict[str, Any]:
    """The configuration a population's checkpoints store and are compared with on resume: the members' shared
    options, ``seeds`` and, per member, the optimiser numbers (lists in member order)."""
    shared = {k: v for k, v in configs[0].items() if k != "seed" and k not in member_options}
    shared["seeds"] = [c["seed"] for c in configs]
    for k in member_options:
        if any(k in c for c in configs):
            shared[k] = [c.get(k) for c in configs]
    return shared


def population_checkpoint_key(name: str, run_ids: list[str], variant: str, data: str) -> str:
    """The checkpoint directory of a population: ``--name`` when given (changed hyper-parameters are then
    refused, as for a single run), else ``population-<variant>-<data>-<hash of the members' run ids>``: re-running
    the same sweep regroups the same runs and finds it."""
    if name:
        return name
    digest = hashlib.sha1("\n".join(run_ids).encode()).hexdigest()[:16]
    return f"population-{variant}-{data}-{digest}"


def population_callbacks(run: Any, dm: Any, loggers: list[Any], checkpoint: Any, extra: list) -> list:
    """A population's callbacks, in the order :func:`benchmark.train.trainer.training_callbacks` gives a single
    run's: ``extra``, the in-training scores per member, the checkpoint (``checkpoint``, a
    :class:`~benchmark.train.checkpoint.RunCheckpoint`), the sample plots per member (W&B only) and the stop on
    a signal (which checkpoints first)."""
    import warnings

    from ..score import cheap_metrics
    from .interrupt import StopOnSignal

    out = list(extra)
    if run.eval_every:
        names = cheap_metrics([m for m in run.metrics.split(",") if m] if run.metrics else list(dm.metrics))
        if names:
            out.append(MemberMetricTracker(run.eval_every, names, run.eval_samples, dm, loggers))
        else:
            warnings.warn(f"eval_every: none of the metrics of {run.data!r} is cheap enough to compute in training")
    out.append(checkpoint)
    if run.sample_every and any(lg is not None for lg in loggers):
        out.append(MemberSampleLogger(run.sample_every, dm, loggers))
    out.append(StopOnSignal(checkpoint))
    return out
