"""The Lightning side of a run: the ``Trainer``, the module with its fast paths, the callbacks and step fusing."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch

from models.fusion import StepFusion

from .callbacks import SampleLogger
from .checkpoint import AtomicCheckpointIO, RunCheckpoint
from ..score import cheap_metrics
from .metric_tracker import MetricTracker
from .options import ResolvedRun
from .progress import run_progress_callback


def quiet_lightning() -> None:
    """Silence Lightning's info logging and the warnings that do not apply to in-memory GAN training."""
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")
    warnings.filterwarnings("ignore", ".*GPU available but not used.*")
    warnings.filterwarnings("ignore", ".*IterableDataset.*")
    warnings.filterwarnings("ignore", ".*LightningModule.*reinit.*")


def skip_nvml_polling_without_gpus() -> None:
    """Lightning sets ``PYTORCH_NVML_BASED_CUDA_CHECK=1`` (fork safety); with a CUDA build of torch on a machine
    without GPUs, every optimiser ``step()`` then dlopens NVML again (``benchmark perf`` measures the step). With no
    GPU there is nothing to protect, so the availability check goes back to torch's cached runtime query. Called
    when a Trainer is made (and by the perf harness's plain loop), not when a package is imported."""
    import os

    if os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK") == "1" and torch.cuda.device_count() == 0:
        del os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"]


def make_trainer(resolved: ResolvedRun, logger: Any, callbacks: list | None = None):
    skip_nvml_polling_without_gpus()
    r = resolved.run
    strategy: Any = r.strategy
    if strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        # each backward touches only the optimised network (see benchmark.train.run): DDP must look for the
        # unused parameters of every backward, or the second manual_backward of a batch fails
        strategy = DDPStrategy(find_unused_parameters=True)
    devices: Any = r.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    return pl.Trainer(accelerator=r.accelerator, devices=devices, num_nodes=r.num_nodes, strategy=strategy,
                      precision=r.precision, plugins=[AtomicCheckpointIO()], max_epochs=-1, max_steps=-1, logger=logger if logger else False,
                      callbacks=callbacks or [], enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0, deterministic=r.deterministic,
                      log_every_n_steps=1_000_000, default_root_dir=r.results_dir)


def build_model(resolved: ResolvedRun, dm) -> tuple[Any, dict[str, str]]:
    """The run's module on ``dm`` (set up) with its fast paths applied, and what was applied."""
    model = resolved.variant_cls(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind,
                                 **resolved.model)
    return model, apply_fast_paths(model, resolved.run)


def fuse_steps(resolved: ResolvedRun, model, dm, callbacks: list) -> int:
    """Fuse ``k`` GAN iterations into each Lightning step (:class:`models.fusion.StepFusion`), with ``k`` from
    :meth:`ResolvedRun.fused_iterations` and the callbacks' periods (``every_n_iterations``); returns ``k``."""
    periods = [int(getattr(cb, "every_n_iterations", 0) or 0) for cb in callbacks]
    k = resolved.fused_iterations(periods)
    StepFusion.of(model, k).attach(model, dm)
    return k


def training_callbacks(resolved: ResolvedRun, dm, ckpt_dir: Path, config: dict[str, Any], logger: Any,
                       extra: list) -> list:
    """The callbacks of a run, in order: ``extra``, the in-training scores, checkpoints, W&B sample plots."""
    r = resolved.run
    run_callbacks = list(extra) + run_progress_callback(r.progress, extra)
    if r.eval_every:
        # cheap metrics of a small sample over training; added before RunCheckpoint, so a checkpoint taken
        # at an evaluation point holds that iteration's scores
        names = cheap_metrics([m for m in r.metrics.split(",") if m] if r.metrics else list(dm.metrics))
        if names:
            run_callbacks.append(MetricTracker(r.eval_every, names, r.eval_samples, seed=r.seed))
        else:
            warnings.warn(f"eval_every: none of the metrics of {r.data!r} is cheap enough to compute in training")
    run_callbacks.append(RunCheckpoint(ckpt_dir, config, r.checkpoint_every, seed=r.seed))
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
