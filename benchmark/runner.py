"""Run one (variant, dataset, seed, hyper-parameters) configuration end to end and write its run JSON.

Train with a Lightning ``Trainer`` -> sample -> score every metric with its protocol -> keep samples for plots
-> write ``results/runs/<run-id>.json`` atomically. A failing or diverging run is recorded with its status; it
never raises past :func:`execute` (the caller's sweep goes on).
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
import torch

from . import tracking
from .options import ResolvedRun, resolve
from .results import atomic_write_json, package_versions, run_id


def _quiet() -> None:
    import logging

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*GPU available but not used.*")
    warnings.filterwarnings("ignore", ".*IterableDataset.*")
    warnings.filterwarnings("ignore", ".*LightningModule.*reinit.*")


def make_trainer(resolved: ResolvedRun, logger: Any, callbacks: list | None = None):
    import pytorch_lightning as pl

    r = resolved.run
    strategy: Any = r.strategy
    if strategy == "ddp":
        from pytorch_lightning.strategies import DDPStrategy

        # each backward touches only the optimised network; D's params are unused in the D-step graph's G
        # side and vice versa, so DDP must look for unused parameters per backward
        strategy = DDPStrategy(find_unused_parameters=True)
    devices: Any = r.devices
    if isinstance(devices, str) and devices.isdigit():
        devices = int(devices)
    return pl.Trainer(accelerator=r.accelerator, devices=devices, num_nodes=r.num_nodes, strategy=strategy,
                      precision=r.precision, max_epochs=-1, max_steps=-1, logger=logger if logger else False,
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
    """
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
    logger = None
    is_zero = True
    try:
        pl.seed_everything(r.seed, workers=True, verbose=False)
        dm = resolved.datamodule_cls(seed=r.seed, **resolved.data)
        dm.setup()
        model = resolved.variant_cls(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind,
                                     **resolved.model)
        logger = tracking.make_logger(rid, config, requested=r.wandb, project=r.project, group=r.group,
                                      tags=[r.variant, r.data, f"seed{r.seed}"],
                                      save_dir=os.environ.get("WANDB_DIR", "."))
        trainer = make_trainer(resolved, logger, callbacks)
        t_train = time.perf_counter()
        trainer.fit(model, datamodule=dm)
        record["train_time_s"] = time.perf_counter() - t_train
        is_zero = trainer.is_global_zero
        record["steps"] = model.iteration
        record["history"] = model.history
        record["iterations_per_s"] = model.iteration / max(record["train_time_s"], 1e-9)
        if model.diverged_at is not None:
            record["status"], record["diverged_at"] = "diverged", model.diverged_at
        else:
            record["status"] = "completed"
        if is_zero:
            _evaluate(record, resolved, model, dm, results_dir, rid)
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


def _evaluate(record: dict, resolved: ResolvedRun, model, dm, results_dir: Path, rid: str) -> None:
    """Sample, score and keep samples; a diverged model is still sampled (NaNs are kept out of the scores)."""
    from . import metrics as M
    from .plots import save_sample_plot

    r = resolved.run
    names = [m for m in r.metrics.split(",") if m] if r.metrics else list(dm.metrics)
    model.eval()

    def sample_fn(n: int, labels):
        return model.sample(n, labels)

    t = time.perf_counter()
    if record["status"] == "completed":
        values, protocols = M.evaluate(names, sample_fn, dm, seed=r.seed, conditional=bool(model.cond_classes))
        record["metrics"], record["protocol"] = values, protocols
    record["eval_time_s"] = time.perf_counter() - t
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
