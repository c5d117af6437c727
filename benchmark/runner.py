"""Run one (variant, dataset, seed, hyper-parameters) configuration end to end and write its run JSON.

Train with a Lightning ``Trainer`` -> sample -> score every metric with its protocol -> keep samples for plots
-> write ``results/runs/<run-id>.json`` atomically. A failing or diverging run is recorded with its status; it
never raises past :func:`execute` (the caller's sweep goes on) -- except for bad input found before anything is
written (a batch larger than a rank's shard, a checkpoint of other hyper-parameters), which raises a
``UsageError`` (one ``error:`` line and exit 2 from the CLI).

Resume: with ``checkpoint_every > 0`` checkpoints go to ``results/checkpoints/<name or run-id>/`` (see
:mod:`benchmark.checkpoint`); re-running the same command continues from the newest readable one.

Distributed: ``strategy="ddp"`` is Lightning's subprocess launcher (the command is re-run once per extra local
rank), which works from ``python -m benchmark run`` and from a test that runs that command. ``ddp_spawn`` is
not used: it trains in child processes, so the parent's module never sees the python-side state (iteration,
history, divergence) the run record needs. Each backward of the manual step touches only one network's
parameters (the D step sees ``fake.detach()``, the G step runs under ``toggled_optimizer``), which is exactly
what DDP's default reducer rejects ("parameters that were not used in producing the loss"), so ``ddp`` maps to
``DDPStrategy(find_unused_parameters=True)``: the reducer walks each loss's autograd graph and marks the other
network's parameters ready. Measured on 2 CPU processes (ring8, wgan_gp incl. its double backward):
``find_unused_parameters=False`` fails with "parameters that were not used in producing the loss"; ``True``
trains every variant (tests/test_ddp.py), and its walk is over graphs of a few dozen autograd nodes. The
alternative, one DDP wrapper per network, would need a custom strategy; not worth it at these sizes. On this
shared 2-core CPU DDP is a correctness check, not a speed-up (200 wgan_gp iterations: 27.5 s in one process,
78 s with 2 processes). Scoring under DDP: each rank generates a disjoint
contiguous slice of the samples a metric asks for, rank 0 gathers them in order (no duplicates, no gaps) and
scores once; the other ranks only take part in the gathers.
"""
from __future__ import annotations

import os
import time
import traceback
import warnings
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch

from . import tracking
from .callbacks import SampleLogger
from .options import ResolvedRun, resolve
from .results import atomic_write_json, package_versions, run_id


def _quiet() -> None:
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", ".*GPU available but not used.*")
    warnings.filterwarnings("ignore", ".*IterableDataset.*")
    warnings.filterwarnings("ignore", ".*LightningModule.*reinit.*")


def make_trainer(resolved: ResolvedRun, logger: Any, callbacks: list | None = None):
    import pytorch_lightning as pl

    r = resolved.run
    strategy: Any = r.strategy
    if strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        # each backward touches only the optimised network (see the module docstring): DDP must look for the
        # unused parameters of every backward, or the second manual_backward of a batch fails
        strategy = DDPStrategy(find_unused_parameters=True)
    devices: Any = r.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    from .checkpoint import AtomicCheckpointIO

    return pl.Trainer(accelerator=r.accelerator, devices=devices, num_nodes=r.num_nodes, strategy=strategy,
                      precision=r.precision, plugins=[AtomicCheckpointIO()], max_epochs=-1, max_steps=-1, logger=logger if logger else False,
                      callbacks=callbacks or [], enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, deterministic=r.deterministic,
                      log_every_n_steps=1_000_000, default_root_dir=r.results_dir)


def keep_samples(samples: torch.Tensor, kind: str) -> np.ndarray:
    """Samples stored with a run: uint8 images or float32 points."""
    if kind == "image":
        from datamodules import unit_to_uint8

        return unit_to_uint8(samples).cpu().numpy()
    return samples.float().cpu().numpy()


def execute(options: dict[str, Any] | ResolvedRun, callbacks: list | None = None) -> dict:
    """Run one configuration; returns the run record (also written to ``results/runs/<run-id>.json``).

    ``options`` are flat run options (see :mod:`benchmark.options`); invalid options raise ``ConfigError``
    before anything is written. ``callbacks`` are extra Lightning callbacks (e.g. a progress display).

    Raises:
        UsageError: before anything is written, when the batch is larger than a rank's share of the data or
            the run's checkpoint directory holds a run of other hyper-parameters (``ResumeRefused``).
    """
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    from . import checkpoint as C
    from .cli import UsageError

    resolved = options if isinstance(options, ResolvedRun) else resolve(options)
    r = resolved.run
    config = resolved.config()
    rid = run_id(config)
    results_dir = Path(r.results_dir)
    _quiet()
    if r.threads:
        torch.set_num_threads(r.threads)
    record: dict[str, Any] = {"run_id": rid, "variant": r.variant, "dataset": r.data, "seed": r.seed,
                              "status": "failed", "steps": 0, "wall_time_s": 0.0, "metrics": {}, "protocol": {},
                              "config": config, "versions": package_versions(), "history": [],
                              "group": r.group or None}
    import pytorch_lightning as pl

    t0 = time.perf_counter()
    is_zero = getattr(rank_zero_only, "rank", 0) == 0
    logger = None
    try:
        # bad input that needs the data or the checkpoints: UsageError before anything is written
        pl.seed_everything(r.seed, workers=True, verbose=False)
        dm = resolved.datamodule_cls(seed=r.seed, **resolved.data)
        dm.setup()
        check_batch_size(dm, r)
        ckpt_dir = C.checkpoint_dir(results_dir, r.name or rid)
        resume_path, resume_ckpt = C.find_resume(ckpt_dir, config) if r.resume else (None, None)
        if not r.resume and is_zero:
            for old in C.list_checkpoints(ckpt_dir):
                old.unlink(missing_ok=True)
        model, record["fast_paths"] = build_model(resolved, dm)
        logger = tracking.make_logger(rid, config, requested=r.wandb, project=r.project, group=r.group,
                                      tags=[r.variant, r.data, f"seed{r.seed}"],
                                      save_dir=os.environ.get("WANDB_DIR", "."))
        timer = LoopTimer()
        run_callbacks = training_callbacks(resolved, dm, ckpt_dir, config, logger, list(callbacks or []) + [timer])
        record["fast_paths"]["fuse_iterations"] = str(fuse_steps(resolved, model, dm, run_callbacks))
        trainer = make_trainer(resolved, logger, run_callbacks)
        t_train = time.perf_counter()
        if resume_path is not None:
            record["resumed_from"] = os.path.relpath(resume_path, results_dir)
            record["resumed_at"] = int(resume_ckpt.get("ganbench", {}).get("iteration", 0))
        if resume_ckpt is not None and _finished(resume_ckpt, model.cfg.iterations):
            # the checkpoint is the end of training (done or diverged): evaluate it, do not train further
            model.load_state_dict(resume_ckpt["state_dict"])
            model.on_load_checkpoint(resume_ckpt)
            C.set_rng_state(resume_ckpt["ganbench_run"]["rng"][0])
            world = 1
        else:
            trainer.fit(model, datamodule=dm, ckpt_path=str(resume_path) if resume_path else None,
                        weights_only=True)
            is_zero, world = trainer.is_global_zero, trainer.world_size
        del resume_ckpt
        record["train_time_s"] = time.perf_counter() - t_train
        if timer.loop_s is not None:          # the training loop alone, without Trainer/W&B set-up and teardown
            record["train_loop_s"] = timer.loop_s
        record["steps"] = model.iteration
        record["history"] = model.history
        record["iterations_per_s"] = (model.iteration - record.get("resumed_at", 0)) / max(record["train_time_s"], 1e-9)
        if model.diverged_at is not None:
            record["status"], record["diverged_at"] = "diverged", model.diverged_at
        else:
            record["status"] = "completed"
        _evaluate(record, resolved, model, dm, results_dir, rid, world=world, is_zero=is_zero)
    except UsageError:
        raise
    except Exception as e:                          # isolate: record the failure, keep the sweep going
        record["status"] = "failed"
        record["error"] = f"{type(e).__name__}: {e}"
        record["traceback"] = traceback.format_exc(limit=8)
    record["wall_time_s"] = time.perf_counter() - t0
    record["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    if is_zero:
        atomic_write_json(results_dir / "runs" / f"{rid}.json", record)
        try:
            plot = record.get("sample_plot")
            tracking.log_final(logger, record["metrics"], str(results_dir / plot) if plot else None, record["status"])
        except Exception as e:
            print(f"warning: W&B logging failed: {e}")
    tracking.finish(logger)
    return record


class LoopTimer(pl.Callback):
    """Wall time of the training loop alone (first batch start to train end): no Trainer or W&B set-up."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.loop_s: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if self.t0 is not None:
            self.loop_s = time.perf_counter() - self.t0


def build_model(resolved: ResolvedRun, dm) -> tuple[Any, dict[str, str]]:
    """The run's module on ``dm`` (set up) with its fast paths applied, and what was applied."""
    model = resolved.variant_cls(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind,
                                 **resolved.model)
    return model, apply_fast_paths(model, resolved.run)


def fuse_steps(resolved: ResolvedRun, model, dm, callbacks: list) -> int:
    """Fuse GAN iterations into Lightning steps: the module trains ``k * n_critic`` batches per
    ``training_step`` and the datamodule's loader stacks that many (``dm.batches_per_step``), with ``k`` from
    :meth:`ResolvedRun.fused_iterations` and the callbacks' periods (``every_n_iterations``); returns ``k``."""
    periods = [int(getattr(cb, "every_n_iterations", 0) or 0) for cb in callbacks]
    k = resolved.fused_iterations(periods)
    model.fused_batches = dm.batches_per_step = k * (model.cfg.n_critic if model.has_discriminator else 1)
    return k


def training_callbacks(resolved: ResolvedRun, dm, ckpt_dir: Path, config: dict[str, Any], logger: Any,
                       extra: list) -> list:
    """The callbacks of a run, in order: ``extra``, the in-training scores, checkpoints, W&B sample plots."""
    from . import checkpoint as C

    r = resolved.run
    run_callbacks = list(extra)
    if r.eval_every:
        # cheap metrics of a small sample over training; added before RunCheckpoint, so a checkpoint taken
        # at an evaluation point holds that iteration's scores
        from .metric_callback import MetricTracker, cheap_metrics

        names = cheap_metrics([m for m in r.metrics.split(",") if m] if r.metrics else list(dm.metrics))
        if names:
            run_callbacks.append(MetricTracker(r.eval_every, names, r.eval_samples, seed=r.seed))
        else:
            warnings.warn(f"eval_every: none of the metrics of {r.data!r} is cheap enough to compute in training")
    run_callbacks.append(C.RunCheckpoint(ckpt_dir, config, r.checkpoint_every, seed=r.seed))
    if logger is not None and r.sample_every:     # sample plots to W&B over training
        run_callbacks.append(SampleLogger(r.sample_every))
    return run_callbacks


def apply_fast_paths(model, run) -> dict[str, str]:
    """Accelerator fast paths that leave the maths unchanged; returns what was applied (kept in the run JSON).

    - ``channels_last``: NHWC memory format for the networks and the batches (image models only).
    - ``compile``: ``torch.compile`` of G and every D, in place (state-dict keys unchanged, so checkpoints
      stay compatible); a network whose compilation fails on a first forward falls back to eager mode.
    Mixed precision is the Trainer's ``--precision bf16-mixed`` (autocast around the training step).
    """
    notes: dict[str, str] = {}
    if run.channels_last:
        if len(model.data_shape) == 3:
            model.to(memory_format=torch.channels_last)
            model.channels_last = True
            notes["channels_last"] = "on"
        else:
            notes["channels_last"] = "skipped: not image data"
    if run.compile:
        z = model.sample_z(2)
        y = torch.zeros(2, dtype=torch.long) if model.cond_classes else None
        failures = []
        for name, net, args in [("generator", model.generator, (z, y))] + [
                (f"discriminator{i}", d, (torch.zeros(2, *model.data_shape), y))
                for i, d in enumerate(model.discriminators)]:
            try:
                net.compile()
                net(*args)                               # compile now, so a failure is caught here
            except Exception as e:                       # no compiler, unsupported op, ...: stay eager
                net._compiled_call_impl = None
                failures.append(f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
        notes["compile"] = "on" if not failures else "fell back to eager (" + "; ".join(failures) + ")"
    return notes


def _finished(ckpt: dict, iterations: int) -> bool:
    state = ckpt.get("ganbench", {})
    return state.get("diverged_at") is not None or state.get("iteration", 0) >= iterations


def world_size_of(run) -> int:
    """Processes the Trainer will start for ``devices`` x ``num_nodes`` (1 when ``devices`` is ``auto``)."""
    d = str(run.devices).strip()
    if d.isdigit():
        n = int(d)
    elif "," in d or d.startswith("["):
        n = len([x for x in d.strip("[]").split(",") if x.strip()])
    else:
        n = 1
    return max(n, 1) * max(run.num_nodes, 1)


def check_batch_size(dm, run) -> None:
    """Raise ``UsageError`` when one batch needs more samples than a rank's shard of the dataset holds."""
    from .cli import UsageError

    n = int(dm.train_x.shape[0])
    world = world_size_of(run)
    per_rank = n // world
    if dm.batch_size > per_rank:
        where = (f"the {per_rank} samples per rank of dataset {run.data!r} ({n} samples / {world} processes)"
                 if world > 1 else f"dataset {run.data!r} ({n} samples)")
        raise UsageError(f"batch_size={dm.batch_size} is larger than {where}; choose 1 <= batch_size <= {per_rank}")


def _evaluate(record: dict, resolved: ResolvedRun, model, dm, results_dir: Path, rid: str, *, world: int = 1,
              is_zero: bool = True) -> None:
    """Sample, score and keep samples; a diverged model is still sampled (NaNs are kept out of the scores).

    Under DDP every rank calls this: each generates its slice of every metric's samples (:func:`gather_samples`),
    rank 0 scores the gathered set once and keeps the samples; the other ranks return after the gathers.
    """
    from . import metrics as M
    from .plots import save_sample_plot

    r = resolved.run
    names = [m for m in r.metrics.split(",") if m] if r.metrics else list(dm.metrics)
    model.eval()

    def sample_fn(n: int, labels):
        if world > 1:
            return gather_samples(model, n, labels)
        return model.sample(n, labels)

    t = time.perf_counter()
    if record["status"] == "completed":
        if is_zero:
            values, protocols = M.evaluate(names, sample_fn, dm, seed=r.seed, conditional=bool(model.cond_classes))
            record["metrics"], record["protocol"] = values, protocols
        else:                                       # the same sequence of gathers as M.evaluate, no scoring
            for group in M.groups_for(names):
                labels = None
                if model.cond_classes and getattr(dm, "num_classes", 0):
                    labels = torch.arange(group.num_samples) % dm.num_classes
                sample_fn(group.num_samples, labels)
    record["eval_time_s"] = time.perf_counter() - t
    if world > 1:
        record["eval_processes"] = world
    if not is_zero:
        return
    if r.save_samples:
        samples = model.sample(r.save_samples)
        samples = torch.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        arr = keep_samples(samples, dm.kind)
        sample_path = results_dir / "samples" / f"{rid}.npy"
        sample_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(sample_path, arr)
        modes = dm.modes().numpy() if hasattr(dm, "modes") else None
        png = save_sample_plot(arr, dm.kind, results_dir / "samples" / f"{rid}.png", modes=modes,
                               title=f"{r.variant} on {r.data}, seed {r.seed}")
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
