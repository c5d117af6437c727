"""Run one (variant, dataset, seed, hyper-parameters) configuration end to end and write its run JSON.

Train with a Lightning ``Trainer`` -> sample -> score every metric with its protocol -> keep samples for plots
-> write ``results/runs/<run-id>.json`` atomically. A failing or diverging run is recorded with its status; it
never raises past :func:`execute` (the caller's sweep goes on) -- except for bad input found before anything is
written (a batch larger than a rank's shard, a checkpoint of other hyper-parameters), which raises a
``UsageError`` (one ``error:`` line and exit 2 from the CLI).

Resume: with ``checkpoint_every > 0`` checkpoints go to ``results/checkpoints/<name or run-id>/`` (see
:mod:`benchmark.train.checkpoint`); re-running the same command continues from the newest readable one.

Distributed: ``strategy="ddp"`` is Lightning's subprocess launcher (the command is re-run once per extra local
rank), which works from ``python -m benchmark run`` and from a test that runs that command. ``ddp_spawn`` is
not used: it trains in child processes, so the parent's module never sees the python-side state (iteration,
history, divergence) the run record needs. Each backward of the manual step touches only one network's
parameters (the D step sees ``fake.detach()``, the G step runs under ``toggled_optimizer``), which is exactly
what DDP's default reducer rejects ("parameters that were not used in producing the loss"), so ``ddp`` maps to
``DDPStrategy(find_unused_parameters=True)``: the reducer walks each loss's autograd graph and marks the other
network's parameters ready: ``find_unused_parameters=False`` fails with "parameters that were not used in
producing the loss" (wgan_gp, with its double backward, included); ``True`` trains every variant
(tests/train/test_ddp.py), and its walk is over graphs of a few dozen autograd nodes. The alternative, one DDP
wrapper per network, would need a custom strategy; not worth it at these sizes. On a CPU, DDP is a correctness
check, not a speed-up. Scoring under DDP: each rank generates a disjoint contiguous slice of the samples a metric asks for, rank 0 gathers them in order (no duplicates, no gaps) and
scores once; the other ranks only take part in the gathers.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.utilities.exceptions import SIGTERMException

from .. import score
from ..errors import UsageError
from ..io import (FINISHED, atomic_write, atomic_write_json, attempt_mark, package_versions, record_status,
                  run_id)
from ..samples import keep_samples, save_sample_plot
from . import checkpoint as C
from . import tracking
from .callbacks import LoopTimer
from .interrupt import STATE, Interrupted, StopOnSignal, catch_signals
from .options import ResolvedRun, auto_threads, bf16_cpu_warning, resolve
from .trainer import build_model, fuse_steps, make_trainer, quiet_lightning, training_callbacks, world_size_of


@dataclass
class RunState:
    """What the stages of :func:`execute` hand on: the record being filled and the objects set up for it."""

    resolved: ResolvedRun
    record: dict[str, Any]
    results_dir: Path
    rid: str
    callbacks: list
    is_zero: bool = True
    world: int = 1
    logger: Any = None
    dm: Any = None
    model: Any = None
    trainer: Any = None
    timer: Any = None
    ckpt_dir: Path | None = None
    resume_path: Path | None = None
    resume_ckpt: dict | None = field(default=None, repr=False)


def execute(options: dict[str, Any] | ResolvedRun, callbacks: list | None = None,
            annotations: dict[str, Any] | None = None) -> dict:
    """Run one configuration; returns the run record (also written to ``results/runs/<run-id>.json``).

    ``options`` are flat run options (see :mod:`benchmark.train.options`); invalid options raise ``ConfigError``
    before anything is written. ``callbacks`` are extra Lightning callbacks (e.g. a progress display).
    ``annotations`` are extra record fields that do not change the run (a sweep's search trial).
    Stages: :func:`prepare` (data, checks, model, Trainer) -> :func:`fit` -> :func:`score_run` ->
    :func:`write_run`; an exception in the first three is recorded as ``failed`` (the sweep goes on).

    Raises:
        UsageError: before anything is written, when the batch is larger than a rank's share of the data,
            a metric cannot be computed on the data as read, or the run's checkpoint directory holds a run of
            other hyper-parameters (``ResumeRefused``).
    """
    resolved = options if isinstance(options, ResolvedRun) else resolve(options)
    if resolved.run.engine == "population":         # a population of one: the same engine as its siblings
        return execute_population([resolved], callbacks, [annotations or {}])[0]
    r = resolved.run
    config = resolved.config()
    rid = run_id(config)
    quiet_lightning()
    slow_bf16 = bf16_cpu_warning(r)
    if slow_bf16 and getattr(rank_zero_only, "rank", 0) == 0:
        print(slow_bf16, file=sys.stderr, flush=True)
    threads = r.threads or auto_threads(r, resolved.variant_cls.Config(**resolved.model).arch)
    if threads:
        torch.set_num_threads(threads)
    record: dict[str, Any] = {"run_id": rid, "variant": r.variant, "dataset": r.data, "seed": r.seed,
                              "status": "failed", "steps": 0, "wall_time_s": 0.0, "metrics": {}, "protocol": {},
                              "config": config, "versions": package_versions(), "history": [],
                              "group": r.group or None, "threads": torch.get_num_threads(), **(annotations or {})}
    run = RunState(resolved, record, Path(r.results_dir), rid, list(callbacks or []),
                   is_zero=getattr(rank_zero_only, "rank", 0) == 0)
    t0 = time.perf_counter()
    try:
        prepare(run)
        fit(run)
        score_run(run)
    except UsageError:
        raise
    except Exception as e:                          # isolate: record the failure, keep the sweep going
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=8)
        if run.model is not None:                  # the iteration reached, not 0
            record["steps"] = int(getattr(run.model, "iteration", 0) or 0)
    record["wall_time_s"] = time.perf_counter() - t0
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    write_run(run)
    return record


def setup_data(resolved: Any, r: Any, seed: int) -> Any:
    """Seed everything, build and set up the run's datamodule, and check its batch size and metrics (a missing
    dataset is bad input: ``UsageError``, before anything is written)."""
    pl.seed_everything(seed, workers=True, verbose=False)
    dm = resolved.datamodule_cls(seed=seed, **resolved.data)
    try:
        dm.setup()
    except FileNotFoundError as e:                   # DatasetMissingError: bad input, no failed run file
        raise UsageError("; ".join(line.strip() for line in str(e).splitlines() if line.strip())) from None
    check_batch_size(dm, r)
    check_metrics(dm, r)
    return dm


def prepare(run: RunState) -> None:
    """Seed, set up and check the data (``UsageError`` before anything is written), find the checkpoint to
    resume from, build the model, the logger, the callbacks and the Trainer."""
    resolved, record = run.resolved, run.record
    r = resolved.run
    run.dm = dm = setup_data(resolved, r, r.seed)
    if run.is_zero:                  # an unusable cache is an error now, not after training; build ahead
        score.prepare_metrics(metric_names(r, dm), dm)
    run.ckpt_dir = C.checkpoint_dir(run.results_dir, r.name or run.rid)
    run.model, record["fast_paths"] = build_model(resolved, dm)
    run.resume_path, run.resume_ckpt = (C.find_resume(run.ckpt_dir, record["config"], run.model) if r.resume
                                        else (None, None))
    if run.is_zero:
        C.remove_stale_temporaries(run.ckpt_dir, run.results_dir / "runs", run.rid)
    if not r.resume and run.is_zero:
        for old in C.list_checkpoints(run.ckpt_dir):
            old.unlink(missing_ok=True)
    run.logger = tracking.make_logger(run.rid, record["config"], requested=r.wandb, project=r.project,
                                      group=r.group, tags=[r.variant, r.data, f"seed{r.seed}"],
                                      save_dir=os.environ.get("WANDB_DIR") or ".", fallback_dir=run.results_dir)
    run.timer = LoopTimer()
    run_callbacks = training_callbacks(resolved, dm, run.ckpt_dir, record["config"], run.logger,
                                       run.callbacks + [run.timer])
    stop = StopOnSignal(next((cb for cb in run_callbacks if isinstance(cb, C.RunCheckpoint)), None))
    run_callbacks.append(stop)
    record["fast_paths"]["fuse_iterations"] = str(fuse_steps(resolved, run.model, dm, run_callbacks))
    run.trainer = make_trainer(resolved, run.logger, run_callbacks)


def fit(run: RunState) -> None:
    """Train (or, from a checkpoint of the end of training, only load it); set the record's steps, history,
    timings and status: ``diverged``, ``interrupted`` (a SIGTERM/SIGINT stopped it; resumable from the
    checkpoint :class:`StopOnSignal` wrote) or, for now, ``completed``."""
    record, model = run.record, run.model
    t_train = time.perf_counter()
    if run.resume_path is not None:
        record["resumed_from"] = os.path.relpath(run.resume_path, run.results_dir)
        record["resumed_at"] = int(run.resume_ckpt.get("ganbench", {}).get("iteration", 0))
    if run.resume_ckpt is not None and _finished(run.resume_ckpt, model.cfg.iterations):
        # the checkpoint is the end of training (done or diverged): evaluate it, do not train further
        model.load_state_dict(run.resume_ckpt["state_dict"])
        model.on_load_checkpoint(run.resume_ckpt)
        C.set_rng_state(run.resume_ckpt["ganbench_run"]["rng"][0])
        run.world = 1
    else:
        with catch_signals():
            try:
                run.trainer.fit(model, datamodule=run.dm, ckpt_path=str(run.resume_path) if run.resume_path else None,
                                weights_only=True)
            except SIGTERMException:             # Lightning's own stop after a SIGTERM (StopOnSignal ran)
                if not STATE.signum:
                    raise
        run.is_zero, run.world = run.trainer.is_global_zero, run.trainer.world_size
    run.resume_ckpt = None
    record["train_time_s"] = time.perf_counter() - t_train
    if run.timer.loop_s is not None:      # the training loop alone, without Trainer/W&B set-up and teardown
        record["train_loop_s"] = run.timer.loop_s
    record["steps"] = model.iteration
    record["history"] = model.history
    record["iterations_per_s"] = (model.iteration - record.get("resumed_at", 0)) / max(record["train_time_s"], 1e-9)
    if model.diverged_at is not None:
        record["status"], record["diverged_at"] = "diverged", model.diverged_at
    elif STATE.signum and model.iteration < model.cfg.iterations:
        _mark_interrupted(run)
    else:
        record["status"] = "completed"


def _mark_interrupted(run: RunState, during: str = "training") -> None:
    record, r = run.record, run.resolved.run
    record["status"], record["signal"] = "interrupted", STATE.name
    record["interrupted_during"] = during
    record["metrics"], record["protocol"] = {}, {}
    if r.checkpoint_every and C.list_checkpoints(run.ckpt_dir):
        record["checkpoint"] = os.path.relpath(C.list_checkpoints(run.ckpt_dir)[0], run.results_dir)


def score_run(run: RunState) -> None:
    """Sample, score and keep samples (not for an interrupted run).

    A SIGTERM/SIGINT while scoring: with checkpointing on, the end-of-training checkpoint is on disk, so
    scoring stops at once and the run is recorded ``interrupted`` (during ``evaluation``); the same command
    then scores that checkpoint without training. Without checkpoints stopping would throw the training away,
    so scoring finishes (the signal is kept for the caller's exit status) and the run is recorded as it is.
    """
    if run.record["status"] == "interrupted":
        return
    resumable = bool(run.resolved.run.checkpoint_every) and bool(C.list_checkpoints(run.ckpt_dir))
    resumable = resumable and run.world == 1          # under DDP a rank that stopped alone would hang the gathers
    if resumable and STATE.signum:                   # received between training and scoring
        _mark_interrupted(run, "evaluation")
        return
    try:
        with catch_signals(raise_interrupt=resumable):
            _evaluate(run.record, run.resolved, run.model, run.dm, run.results_dir, run.rid, world=run.world,
                      is_zero=run.is_zero)
    except Interrupted:
        _mark_interrupted(run, "evaluation")


def write_run(run: RunState) -> None:
    """Rank 0 writes the record (:func:`write_record`) and logs the final scores to W&B; every rank closes
    its logger."""
    record = run.record
    if run.is_zero:
        record["written_to"] = write_record(run.results_dir, run.rid, record)
        try:
            plot = record.get("sample_plot")
            tracking.log_final(run.logger, record["metrics"], str(run.results_dir / plot) if plot else None,
                               record["status"])
        except Exception as e:
            print(f"warning: W&B logging failed: {e}")
    tracking.finish(run.logger)


def write_record(results_dir: Path, rid: str, record: dict) -> str:
    """Write ``runs/<rid>.json``, except that an attempt that did not finish (failed, interrupted) never replaces
    a finished record (completed or diverged) of the same run: it goes beside it, to
    ``runs/<rid>.failed-<UTC timestamp>.json`` or ``runs/<rid>.interrupted-<UTC timestamp>.json``
    (:func:`benchmark.io.load_runs` skips those). Returns the path."""
    path = results_dir / "runs" / f"{rid}.json"
    if record["status"] not in FINISHED and record_status(path) in FINISHED:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
        path = results_dir / "runs" / f"{rid}{attempt_mark(record['status'])}{stamp}.json"
        print(f"note: {rid} has a {record_status(results_dir / 'runs' / f'{rid}.json')} record, kept; this "
              f"{record['status']} attempt is in {path}")
    try:
        atomic_write_json(path, record)
    except OSError as e:                            # read-only runs/, full disk: never lose a trained result
        fallback = Path(tempfile.gettempdir()) / f"ganbench-{path.name}"
        atomic_write_json(fallback, record)
        print(f"warning: could not write {path} ({e.strerror or e}); the run record is in {fallback}: move it "
              f"to {path.parent} once that is writable", file=sys.stderr)
        path = fallback
    return str(path)


def _finished(ckpt: dict, iterations: int) -> bool:
    state = ckpt.get("ganbench", {})
    return state.get("diverged_at") is not None or state.get("iteration", 0) >= iterations


def check_batch_size(dm, run) -> None:
    """Raise ``UsageError`` when one batch needs more samples than a rank's shard of the dataset holds."""
    n = int(dm.train_x.shape[0])
    world = world_size_of(run)
    per_rank = n // world
    if dm.batch_size > per_rank:
        where = (f"the {per_rank} samples per rank of dataset {run.data!r} ({n} samples / {world} processes)"
                 if world > 1 else f"dataset {run.data!r} ({n} samples)")
        raise UsageError(f"batch_size={dm.batch_size} is larger than {where}; choose 1 <= batch_size <= {per_rank}")


def check_metrics(dm, run) -> None:
    """Raise ``UsageError`` when a metric cannot be computed on the data as read (an image folder without
    class subfolders has no labels for the domain metrics); the dataset's traits were checked by ``resolve``."""
    try:
        score.check_supported(metric_names(run, dm), dm)
    except ValueError as e:
        raise UsageError(str(e)) from None


def metric_names(run, dm) -> list[str]:
    """The metrics a run scores: ``--metrics``, or the dataset's defaults."""
    return [m for m in run.metrics.split(",") if m] if run.metrics else list(dm.metrics)


def generator_protocol(protocols: dict[str, dict], g_ema: float) -> dict[str, dict]:
    """Every score's protocol with the generator that was scored: ``"ema <decay>"`` (the weight average of
    ``g_ema``, :meth:`models.base.GANModule.sample`) when on; unchanged otherwise (the trained G)."""
    if not g_ema:
        return protocols
    return {name: {**p, "generator": f"ema {g_ema:g}"} for name, p in protocols.items()}


def _evaluate(record: dict, resolved: ResolvedRun, model, dm, results_dir: Path, rid: str, *, world: int = 1,
              is_zero: bool = True) -> None:
    """Sample, score and keep samples; a diverged model is still sampled (NaNs are kept out of the scores).

    Under DDP every rank calls this: each generates its slice of every metric's samples (:func:`gather_samples`),
    rank 0 scores the gathered set once and keeps the samples; the other ranks return after the gathers.
    """
    model.eval()
    _score(record, resolved, model, dm, world=world, is_zero=is_zero)
    if not is_zero:
        return
    _keep_generator(record, model, results_dir, rid)
    if resolved.run.save_samples:
        _keep_samples(record, resolved, model, dm, results_dir, rid)


def _score(record: dict, resolved: ResolvedRun, model, dm, *, world: int, is_zero: bool) -> None:
    """The run's metrics and their protocols into ``record`` (a completed run only), and the time it took."""
    r = resolved.run
    names = metric_names(r, dm)

    def sample_fn(n: int, labels):
        if world > 1:
            return gather_samples(model, n, labels)
        return model.sample(n, labels)

    t = time.perf_counter()
    if record["status"] == "completed":
        if is_zero:
            values, protocols = score.evaluate(names, sample_fn, dm, seed=r.seed, conditional=bool(model.cond_classes))
            record["metrics"], record["protocol"] = values, generator_protocol(protocols, model.cfg.g_ema)
        else:                                       # the same sequence of gathers as score.evaluate, no scoring
            for _, n, labels in score.sample_requests(names, dm, conditional=bool(model.cond_classes)):
                sample_fn(n, labels)
    record["eval_time_s"] = time.perf_counter() - t
    if world > 1:
        record["eval_processes"] = world


def _keep_generator(record: dict, model, results_dir: Path, rid: str) -> None:
    """The final generator, for ``python -m benchmark generate`` (a warning, not a failure, when it cannot be
    written: the scores matter more)."""
    try:
        gen = C.save_generator(model, results_dir / C.GENERATOR_DIR / f"{rid}.pt")
        record["generator"] = os.path.relpath(gen, results_dir)
    except OSError as e:
        print(f"warning: the generator of {rid} was not kept ({e.strerror or e}); the scores are kept",
              file=sys.stderr)


def _keep_samples(record: dict, resolved: ResolvedRun, model, dm, results_dir: Path, rid: str) -> None:
    """``save_samples`` samples as ``samples/<rid>.npy`` and their plot (a warning and ``samples_error`` in
    ``record``, not a failure, when they cannot be written)."""
    r = resolved.run
    samples = model.sample(r.save_samples)
    samples = torch.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    arr = keep_samples(samples, dm.kind)
    sample_path = results_dir / "samples" / f"{rid}.npy"
    try:                                            # the scores matter more than the samples: keep them
        atomic_write(sample_path, lambda f: np.save(f, arr))
        modes = dm.known_modes().numpy() if dm.has_modes else None
        png = save_sample_plot(arr, dm.kind, results_dir / "samples" / f"{rid}.png", modes=modes,
                               title=f"{r.variant} on {r.data}, seed {r.seed}")
    except OSError as e:
        record["samples_error"] = f"{type(e).__name__}: {e}"
        print(f"warning: samples of {rid} not saved ({e.strerror or e}); the scores are kept. Free space or "
              f"make {sample_path.parent} writable and re-run for plots", file=sys.stderr)
        return
    record["samples"] = os.path.relpath(sample_path, results_dir)
    record["sample_plot"] = os.path.relpath(png, results_dir)


def gather_samples(model, n: int, labels: torch.Tensor | None) -> torch.Tensor:
    """``n`` samples generated across the ranks of a DDP run, in order, on every rank.

    Rank ``k`` of ``W`` generates the contiguous slice ``[k*ceil(n/W), (k+1)*ceil(n/W)) ∩ [0, n)`` (with the
    matching labels) from its own noise stream; the slices are padded to one length, all-gathered, unpadded and
    concatenated by rank: every index in ``[0, n)`` is generated exactly once (no duplicates, no gaps). The
    weights are identical on every rank (DDP keeps them in sync), so this is the same distribution as
    sampling ``n`` on one rank, produced ``W`` times faster.
    """
    import torch.distributed as dist

    world, rank = dist.get_world_size(), dist.get_rank()
    per = -(-n // world)
    lo, hi = min(rank * per, n), min((rank + 1) * per, n)
    mine = model.sample(hi - lo, labels[lo:hi] if labels is not None else None) if hi > lo else None
    if mine is None:
        mine = torch.empty(0, *model.data_shape, device=model.device)
    padded = torch.zeros(per, *mine.shape[1:], dtype=torch.float32, device=mine.device)
    padded[:mine.shape[0]] = mine
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.contiguous())
    sizes = [max(0, min((k + 1) * per, n) - min(k * per, n)) for k in range(world)]
    return torch.cat([part[:m] for part, m in zip(parts, sizes)])


# ------------------------------------------------------------------------------------------- populations
# run options a population cannot honour per member, with the reason (refused before anything is written)
POPULATION_REFUSED = {
    "precision": ("32-true", "the population engine trains in full precision (autocast under vmap is not "
                             "verified against single runs)"),
    "strategy": ("auto", "a population is one process on one device (DDP would shard every member)"),
    "compile": (False, "torch.compile of a vmapped step is not supported here"),
    "channels_last": (False, "the members are stacked along a leading dimension, not NHWC"),
}


def check_population_runs(runs: list[ResolvedRun]) -> None:
    """Raise ``UsageError`` unless ``runs`` can be one population: one variant, dataset and configuration
    that differ only in seed and :data:`models.population.MEMBER_OPTIONS`, with run options it supports."""
    from models.population import MEMBER_OPTIONS, check_population

    first = runs[0]
    for name, (value, why) in POPULATION_REFUSED.items():
        got = getattr(first.run, name)
        if got != value and not (name == "precision" and got in ("32", 32)):
            raise UsageError(f"{name}={got!r} cannot be used with populations (engine=population): {why}; "
                             f"use {name}={value!r} or train these runs one by one (no --population, engine single)")
    seeds = [r.run.seed for r in runs]
    if len(set(seeds)) != len(seeds):
        raise UsageError(f"a population's members need distinct seeds, got {seeds}")
    ignore = {"seed", *MEMBER_OPTIONS}
    base = {k: v for k, v in first.config().items() if k not in ignore}
    for r in runs[1:]:
        other = {k: v for k, v in r.config().items() if k not in ignore}
        diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
        if diff:
            raise UsageError(f"runs of one population may differ only in seed and {', '.join(MEMBER_OPTIONS)}; "
                             f"these differ in {', '.join(diff)}")
    try:
        check_population(first.variant_cls.Config(**first.model), first.variant_cls)
    except ValueError as e:
        raise UsageError(str(e)) from None


def execute_population(options: list[dict[str, Any] | ResolvedRun], callbacks: list | None = None,
                       annotations: list[dict[str, Any]] | None = None) -> list[dict]:
    """Train runs that differ only in seed (and optimiser numbers) as one :class:`~models.population.GANPopulation`
    and write one run JSON per member (:func:`write_record`); returns the records in order.

    Member ``k`` is the experiment its single run would be (same initial weights, data order and noise; see
    :mod:`models.population`). Every record says ``engine: population`` in its config (its run id differs from
    the single run's) and ``engine: {name, size, seeds, member}``; every metric's protocol names the engine too.
    A failure while training fails every member; scoring failures are per member. Each member has its own W&B
    run, in-training scores and kept samples (:mod:`benchmark.train.members`).

    Resume and signals as for a single run: with ``checkpoint_every`` the population is checkpointed (one
    directory per population, :func:`benchmark.train.members.population_checkpoint_key`) and re-running the same
    runs continues from the newest readable checkpoint; a SIGTERM/SIGINT/SIGHUP checkpoints and records every
    member ``interrupted``. With a checkpoint to resume from the records are written once every member is scored,
    so a signal (or a SIGKILL) while scoring leaves none finished and the re-run, which regroups the same runs,
    scores the end-of-training checkpoint; without one, each is written as soon as it is scored.

    Raises:
        UsageError: before anything is written, for runs that cannot be one population (see
            :func:`check_population_runs`), for the bad input :func:`execute` refuses and for a checkpoint of
            other hyper-parameters (``ResumeRefused``).
    """
    from models.population import MEMBER_OPTIONS, GANPopulation

    from .members import (log_member_hyperparams, member_loggers, population_callbacks, population_checkpoint_key,
                          population_config)

    resolved = [o if isinstance(o, ResolvedRun) else resolve(o) for o in options]
    for r in resolved:
        r.run.engine = "population"
    annotations = annotations or [{} for _ in resolved]
    check_population_runs(resolved)
    first, r0 = resolved[0], resolved[0].run
    quiet_lightning()
    if r0.threads:
        torch.set_num_threads(r0.threads)
    seeds = [r.run.seed for r in resolved]
    engine = {"name": "population", "size": len(resolved), "seeds": seeds}
    records = []
    for k, (res, extra) in enumerate(zip(resolved, annotations)):
        config = res.config()
        records.append({"run_id": run_id(config), "variant": res.run.variant, "dataset": res.run.data,
                        "seed": res.run.seed, "status": "failed", "steps": 0, "wall_time_s": 0.0, "metrics": {},
                        "protocol": {}, "config": config, "versions": package_versions(), "history": [],
                        "group": res.run.group or None, "engine": {**engine, "member": k}, **(extra or {})})
    results_dir = Path(r0.results_dir)
    rids = [rec["run_id"] for rec in records]
    pop_config = population_config([rec["config"] for rec in records], MEMBER_OPTIONS)
    ckpt_dir = C.checkpoint_dir(results_dir, population_checkpoint_key(r0.name, rids, r0.variant, r0.data))
    t0 = time.perf_counter()
    pop = dm = timer = None
    loggers: list[Any] = [None] * len(resolved)
    try:
        dm = setup_data(first, r0, seeds[0])
        score.prepare_metrics(metric_names(r0, dm), dm)
        shared = {k: v for k, v in first.model.items() if k not in MEMBER_OPTIONS}
        member_options = [{k: res.model[k] for k in MEMBER_OPTIONS if k in res.model} for res in resolved]
        pop = GANPopulation(first.variant_cls, seeds, data_shape=dm.dims, num_classes=dm.num_classes,
                            data_kind=dm.kind, member_options=member_options, **shared)
        resume_path, resume_ckpt = C.find_resume(ckpt_dir, pop_config, pop) if r0.resume else (None, None)
        C.remove_stale_temporaries(ckpt_dir, results_dir / "runs", rids[0])
        if not r0.resume:
            for old in C.list_checkpoints(ckpt_dir):
                old.unlink(missing_ok=True)
        pop.member_loggers = loggers = member_loggers(records, resolved, results_dir)
        log_member_hyperparams(loggers, pop)
        timer = LoopTimer()
        checkpoint = C.RunCheckpoint(ckpt_dir, pop_config, r0.checkpoint_every, seed=seeds[0])
        trainer = make_trainer(first, None, population_callbacks(r0, dm, loggers, checkpoint,
                                                                 list(callbacks or []) + [timer]))
        device = trainer.strategy.root_device if getattr(dm, "on_device", False) else "cpu"
        if resume_path is not None:
            at = int(resume_ckpt.get("ganbench", {}).get("iteration", 0))
            for rec in records:
                rec["resumed_from"], rec["resumed_at"] = os.path.relpath(resume_path, results_dir), at
        t_train = time.perf_counter()
        if resume_ckpt is not None and _population_finished(resume_ckpt, pop.cfg.iterations):
            pop.load_state_dict(resume_ckpt["state_dict"])     # the end of training: score it, train no further
            pop.on_load_checkpoint(resume_ckpt)
            C.set_rng_state(resume_ckpt["ganbench_run"]["rng"][0])
        else:
            with catch_signals():
                try:
                    trainer.fit(pop, train_dataloaders=dm.population_dataloader(seeds, device=device),
                                ckpt_path=str(resume_path) if resume_path else None, weights_only=True)
                except SIGTERMException:
                    if not STATE.signum:
                        raise
        resume_ckpt = None
        train_s = time.perf_counter() - t_train
    except UsageError:
        for logger in loggers:
            tracking.finish(logger)
        raise
    except Exception as e:                          # the whole population failed: every member is recorded
        for rec in records:
            rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                       traceback=traceback.format_exc(limit=8),
                       steps=int(getattr(pop, "iteration", 0) or 0), wall_time_s=time.perf_counter() - t0)
        for rec, logger in zip(records, loggers):
            _write_member(results_dir, rec, logger)
        return records
    interrupted = bool(STATE.signum) and pop.iteration < pop.cfg.iterations and not all(
        d is not None for d in pop.diverged_at)
    for k, rec in enumerate(records):
        rec["train_time_s"] = rec["wall_time_s"] = train_s
        if timer.loop_s is not None:
            rec["train_loop_s"] = timer.loop_s
        rec["steps"] = pop.member_steps[k] if pop.member_steps[k] is not None else pop.iteration
        rec["history"] = pop.histories[k]
        rec["iterations_per_s"] = (pop.iteration - rec.get("resumed_at", 0)) / max(train_s, 1e-9)   # per member
        rec["fast_paths"] = {"engine": f"population of {len(resolved)}"}
        if pop.diverged_at[k] is not None:
            rec["status"], rec["diverged_at"] = "diverged", pop.diverged_at[k]
        elif interrupted:
            _mark_member_interrupted(rec, r0, ckpt_dir, results_dir, "training")
        else:
            rec["status"] = "completed"
    resumable = bool(r0.checkpoint_every) and bool(C.list_checkpoints(ckpt_dir))
    written: set[int] = set()

    def write(k: int) -> None:
        _write_member(results_dir, records[k], loggers[k])
        written.add(k)

    if not interrupted:             # resumable: written together, so a signal while scoring leaves none finished
        _score_members(pop, dm, resolved, records, results_dir, ckpt_dir, train_s, resumable,
                       write=None if resumable else write)
    for k in range(len(records)):
        if k not in written:
            write(k)
    return records


def _population_finished(ckpt: dict, iterations: int) -> bool:
    state = ckpt.get("ganbench", {})
    diverged = state.get("diverged_at") or []
    return state.get("iteration", 0) >= iterations or (bool(diverged) and all(d is not None for d in diverged))


def _mark_member_interrupted(rec: dict, run, ckpt_dir: Path, results_dir: Path, during: str) -> None:
    rec.update(status="interrupted", signal=STATE.name, interrupted_during=during, metrics={}, protocol={})
    if run.checkpoint_every and C.list_checkpoints(ckpt_dir):
        rec["checkpoint"] = os.path.relpath(C.list_checkpoints(ckpt_dir)[0], results_dir)


def _score_members(pop, dm, resolved: list[ResolvedRun], records: list[dict], results_dir: Path, ckpt_dir: Path,
                   train_s: float, resumable: bool, write=None) -> None:
    """Score and keep the samples of every member (:func:`_evaluate`, member ``k`` sampling on its own noise
    stream), as :func:`score_run` does for one run: with a checkpoint to resume from, a signal before or while
    scoring records every member ``interrupted`` (during ``evaluation``); without one, scoring finishes.
    ``write(k)``, when given, writes member ``k``'s record as soon as it is scored."""
    r0 = resolved[0].run
    try:
        if resumable and STATE.signum:
            raise Interrupted(STATE.signum)
        with catch_signals(raise_interrupt=resumable):
            for k, (res, rec) in enumerate(zip(resolved, records)):
                t_member = time.perf_counter()
                try:
                    model = pop.member(k)
                    _set_member_rng(pop, k)             # sampling continues member k's noise stream
                    _evaluate(rec, res, model, dm, results_dir, rec["run_id"])
                    for proto in rec["protocol"].values():
                        if isinstance(proto, dict):
                            proto["engine"] = f"population of {len(resolved)}"
                except Exception as e:
                    rec.update(status="failed", error=f"{type(e).__name__}: {e}",
                               traceback=traceback.format_exc(limit=8))
                rec["wall_time_s"] = train_s + (time.perf_counter() - t_member)
                if write is not None:
                    write(k)
    except Interrupted:              # all of them, so that the re-run regroups the same runs and finds the checkpoint
        for rec in records:
            for key in ("diverged_at", "samples", "sample_plot", "generator", "error", "traceback"):
                rec.pop(key, None)
            _mark_member_interrupted(rec, r0, ckpt_dir, results_dir, "evaluation")


def _write_member(results_dir: Path, rec: dict, logger: Any) -> None:
    """Write a member's record (:func:`write_record`), then log its final scores to its W&B run and finish it."""
    rec["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    rec["written_to"] = write_record(results_dir, rec["run_id"], rec)
    try:
        plot = rec.get("sample_plot")
        tracking.log_final(logger, rec["metrics"], str(results_dir / plot) if plot else None, rec["status"])
    except Exception as e:
        print(f"warning: W&B logging failed: {e}")
    tracking.finish(logger)


def _set_member_rng(pop, k: int) -> None:
    """Put member ``k``'s generator states into the global RNGs (what its single run's sampling draws from)."""
    for device, state in pop.member_rng_state(k).items():
        if device == "cpu":
            torch.set_rng_state(state)
        elif device.startswith("cuda"):
            torch.cuda.set_rng_state(state, torch.device(device))
