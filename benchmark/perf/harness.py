"""``python -m benchmark perf``: a benchmark of the benchmark.

Measures, one measurement at a time (two timings on 2 cores slow each other), with min/median/max over
repeats, and writes ``results/perf.md`` and ``results/perf.json``:

1. **Training step overhead.** Iterations/s of each variant trained by GANBench (Lightning ``Trainer``, the
   shared ``GANModule`` step with its logging and checks) vs a hand-written PyTorch loop with the *same*
   networks, optimisers, losses, data and batch size, alternating A B A B in one process; the ratio.
2. **Scaling** of iterations/s with batch size (MLP toy models).
3. **Data**: batches/s of the in-memory and device-resident loaders vs a torchvision DataLoader with workers.
4. **Metrics**: images/s of Inception feature extraction; a cold vs a cached FID evaluation.
5. **Sweep**: where the default sweep's wall time goes (training vs everything else), from its run JSONs.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any, Iterator

import torch

from ..commands import PERF_DEFAULT_VARIANTS
from ..io import atomic_write_json, atomic_write_text, load_runs
from ..score.fidelity import InceptionEmbedder, InceptionMetrics
from ..score.inception import resolve_inception_weights
from ..train.options import resolve
from ..train.trainer import (build_model, fuse_steps, make_trainer, quiet_lightning, skip_nvml_polling_without_gpus,
                             training_callbacks)
from .data import measure_loader_throughput


# the classic objectives: one per cost class (single critic step, n_critic = 5, gradient penalty)
DEFAULT_VARIANTS = PERF_DEFAULT_VARIANTS


# ------------------------------------------------------------------------------- the two training loops
def _synthetic32():
    from datamodules.base import GANDataModule

    class SyntheticImages32(GANDataModule):
        """5,000 random 3×32×32 uint8 images: CIFAR-10's shape for timing DCGAN-32 without the data."""

        name, kind, dims = "synthetic32", "image", (3, 32, 32)

        def load(self):
            g = torch.Generator().manual_seed(0)
            return torch.randint(0, 256, (5000, 3, 32, 32), generator=g, dtype=torch.uint8), None

    return SyntheticImages32


def _build(variant: str, data: str, batch_size: int, options: dict[str, Any]):
    import datamodules
    import models

    dm_cls = _synthetic32() if data == "synthetic32" else datamodules.get_datamodule(data)
    dm = dm_cls(batch_size=batch_size, seed=0)
    dm.setup()
    import dataclasses

    cls = models.get_variant(variant)
    fields = {f.name for f in dataclasses.fields(cls.Config)}        # run options (fusing, ...) are not the model's
    model = cls(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind,
                **{k: v for k, v in options.items() if k in fields})
    return dm, model


def plain_loop(variant: str, data: str, batch_size: int, options: dict[str, Any]) -> Iterator[Any]:
    """A hand-written GAN loop: same modules, optimisers, losses and batches as GANBench, no Lightning, no
    logging, no checks. A generator: each ``next()`` trains one GAN iteration (the variant's ``critic_steps()``
    D steps, ``n_critic`` or e.g. WGAN's warm-up, then one G step) and yields the module it trains, so the
    caller can interleave it with GANBench's loop."""
    from models.base import Critique

    skip_nvml_polling_without_gpus()                # as GANBench's Trainer does
    torch.manual_seed(0)
    dm, model = _build(variant, data, batch_size, options)
    opts = model.configure_optimizers()
    opts = opts[0] if isinstance(opts, tuple) else opts
    opt_d, opt_g = (opts[0], opts[1]) if model.has_discriminator else (None, opts[0])
    loader = dm.train_dataloader()
    d_params = list(model.discriminators.parameters())
    d_steps = 0                                         # D steps taken in this GAN iteration
    while True:
        for x, y in loader:
            y = y if model.cond_classes else None
            d_steps += 1
            do_g = not model.has_discriminator or d_steps >= model.critic_steps()
            if do_g:
                d_steps = 0
            with torch.set_grad_enabled(do_g):
                fake = model.generator(torch.randn(x.shape[0], model.cfg.z_dim), y)
            if model.has_discriminator:
                loss = 0.0
                for disc in model.discriminators:
                    real_c, fake_c = model.critique(disc, x, y), model.critique(disc, fake.detach(), y)
                    loss = loss + model.d_loss(real_c, fake_c)
                    pen = model.d_penalty(disc, real_c.x, fake_c.x, y)
                    if pen is not None:
                        loss = loss + pen
                opt_d.zero_grad(set_to_none=True)
                loss.backward()
                opt_d.step()
                model.after_d_step()
            if not do_g:
                continue
            for p in d_params:
                p.requires_grad_(False)
            if model.has_discriminator:
                loss = 0.0
                for disc in model.discriminators:
                    real_c = None
                    if model.g_needs_real:
                        with torch.no_grad():
                            real_c = model.critique(disc, x, y)
                    loss = loss + model.g_loss(model.critique(disc, fake, y), real_c)
            else:
                loss = model.g_loss(Critique(fake, None, fake.flatten(1)), Critique(x, None, x.flatten(1)))
            opt_g.zero_grad(set_to_none=True)
            loss.backward()
            opt_g.step()
            for p in d_params:
                p.requires_grad_(True)
            model.iteration += 1
            yield model


def plain_loop_rate(variant: str, data: str, batch_size: int, iterations: int, warmup: int,
                    options: dict[str, Any]) -> float:
    """GAN iterations/s of :func:`plain_loop` alone."""
    loop = plain_loop(variant, data, batch_size, options)
    for _ in range(warmup):
        next(loop)
    t0 = time.perf_counter()
    for _ in range(iterations):
        next(loop)
    return iterations / (time.perf_counter() - t0)


def ganbench_trainer(variant: str, data: str, batch_size: int, options: dict[str, Any], extra: list):
    """GANBench's real path for a run of these options: the runner's module (fast paths and fusing), its
    callbacks (checkpointing, in-training scores when asked) and its Trainer. No W&B: the logger only sees
    the flushes, every ``log_every`` iterations."""
    import tempfile

    quiet_lightning()
    torch.manual_seed(0)
    opts = {"variant": variant, "data": data, "batch_size": batch_size, "wandb": "disabled", **options}
    resolved = resolve(opts, datamodule_cls=_synthetic32() if data == "synthetic32" else None)
    dm = resolved.datamodule_cls(seed=0, **resolved.data)
    dm.setup()
    model, _ = build_model(resolved, dm)
    callbacks = training_callbacks(resolved, dm, Path(tempfile.gettempdir()) / "ganbench-perf", {}, None, extra)
    fuse_steps(resolved, model, dm, callbacks)
    return dm, model, make_trainer(resolved, None, callbacks)


def device_clock(device: torch.device) -> float:
    """``time.perf_counter()`` once the work queued on ``device`` has finished (CUDA runs asynchronously: an
    unsynchronised clock would time the queueing, not the kernels)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


def clock_callback(warmup: int, marks: dict[str, float]):
    """A Lightning callback class that writes into ``marks``: ``t0``/``it0`` when the module's GAN iteration
    first reaches ``warmup``, ``t1`` when training ends (both after the device's queued work, :func:`device_clock`)."""
    import pytorch_lightning as pl

    class Clock(pl.Callback):
        def on_train_batch_end(self, trainer, module, *args):
            if module.iteration >= warmup and "t0" not in marks:
                marks["t0"], marks["it0"] = device_clock(module.device), module.iteration

        def on_train_end(self, trainer, module):
            marks["t1"] = device_clock(module.device)

    return Clock


def ganbench_rate(variant: str, data: str, batch_size: int, iterations: int, warmup: int,
                  options: dict[str, Any]) -> float:
    """GAN iterations/s of GANBench's real path (:func:`ganbench_trainer`), timed from iteration ``warmup``."""
    marks: dict[str, float] = {}
    Clock = clock_callback(warmup, marks)

    dm, model, trainer = ganbench_trainer(variant, data, batch_size,
                                           {**options, "iterations": warmup + iterations}, [Clock()])
    trainer.fit(model, datamodule=dm)
    if "t0" not in marks or model.iteration == marks["it0"]:
        raise ValueError(f"no iteration after the {warmup} warm-up ones was timed: raise iterations above the "
                         f"{model.fusion.batches} batches of one Lightning step")
    return (model.iteration - marks["it0"]) / (marks["t1"] - marks["t0"])


class Interleave:
    """Times GANBench's loop and the plain loop in alternating chunks of the same iterations, in one process.

    A callback at the end of GANBench's Lightning steps stops GANBench's clock every ``chunk`` iterations,
    trains the same number of iterations of the plain loop on its clock, and restarts GANBench's: both loops
    see the same machine state, chunk by chunk (this 2-core VM drifts by ±5% between runs a minute apart).
    """

    def __init__(self, plain: Iterator[None], chunk: int, warmup: int) -> None:
        self.plain, self.chunk, self.warmup = plain, chunk, warmup
        self.ours: list[float] = []
        self.theirs: list[float] = []
        self._t = self._it = None

    def callback(self):
        import pytorch_lightning as pl

        outer = self

        class _Cb(pl.Callback):
            def on_train_batch_end(self, trainer, module, *args):
                outer.step(module.iteration)

        return _Cb()

    def step(self, iteration: int) -> None:
        now = time.perf_counter()
        if self._t is None:
            if iteration < self.warmup:
                return
            for _ in range(self.warmup):              # warm the plain loop up too
                next(self.plain)
            self._t, self._it = time.perf_counter(), iteration
            return
        done = iteration - self._it
        if done < self.chunk:
            return
        self.ours.append(done / (now - self._t))
        t = time.perf_counter()
        for _ in range(done):
            next(self.plain)
        self.theirs.append(done / (time.perf_counter() - t))
        self._t, self._it = time.perf_counter(), iteration


def summary(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def force_lightning_dispatch():
    """A callback that overrides ``on_after_backward`` (a no-op), which makes the step use Lightning's
    ``manual_backward``/``LightningOptimizer.step`` instead of the lean dispatch: the "before" of the ablation."""
    import pytorch_lightning as pl

    class _ForceLightning(pl.Callback):
        def on_after_backward(self, trainer, module) -> None:
            pass

    return _ForceLightning()


def compare_loops(variant: str, data: str, batch_size: int, iterations: int, warmup: int, repeats: int,
                  options: dict[str, Any], chunk: int = 50, lightning_dispatch: bool = False,
                  label: str = "") -> dict[str, Any]:
    """GANBench vs the plain loop, interleaved chunk by chunk (:class:`Interleave`) over ``repeats`` runs of
    ``iterations`` timed iterations each; the ratio is per chunk pair. ``lightning_dispatch`` forces
    Lightning's backward/step dispatch (:func:`force_lightning_dispatch`)."""
    from models.dispatch import Dispatch

    ours, theirs = [], []
    lean = None
    for _ in range(repeats):
        inter = Interleave(plain_loop(variant, data, batch_size, options), chunk, warmup)
        extra = [inter.callback()] + ([force_lightning_dispatch()] if lightning_dispatch else [])
        dm, model, trainer = ganbench_trainer(variant, data, batch_size,
                                               {**options, "iterations": warmup + iterations}, extra)
        trainer.fit(model, datamodule=dm)
        lean = Dispatch.lean_is_exact(model)
        ours += inter.ours
        theirs += inter.theirs
    ratios = [a / b for a, b in zip(ours, theirs)]
    if not ratios:
        raise ValueError(f"no chunk of {chunk} iterations was timed: raise iterations ({iterations}) above chunk "
                         f"and the {model.fusion.batches} batches of one Lightning step")
    return {"variant": variant, "data": data, "batch_size": batch_size, "options": options, "label": label,
            "dispatch": "lean" if lean else "Lightning",
            "chunks": len(ratios), "chunk_iterations": chunk,
            "fuse_iterations": model.fusion.iterations,
            "plain_it_s": summary(theirs), "ganbench_it_s": summary(ours), "ratio": summary(ratios),
            "overhead_pct": 100 * (1 - statistics.median(ratios))}


# -------------------------------------------------------------------------------------- other sections
def data_throughput(quick: bool) -> dict[str, Any]:
    return measure_loader_throughput(num_batches=50 if quick else 200, repeats=2 if quick else 3)


def metric_timing(n_images: int) -> dict[str, Any]:
    """Inception features/s on ``n_images`` 32×32 images, and a cold vs a cached FID against a fixed real set."""
    import tempfile

    weights = resolve_inception_weights(allow_download=False)
    emb = InceptionEmbedder(weights, device="cpu")
    imgs = torch.rand(n_images, 3, 32, 32) * 2 - 1
    t = time.perf_counter()
    emb(imgs)
    per_s = n_images / (time.perf_counter() - t)
    out: dict[str, Any] = {"images": n_images, "inception_images_per_s": per_s, "weights": weights.protocol()}
    try:
        import os

        from datamodules import DigitsDataModule

        with tempfile.TemporaryDirectory() as d:
            os.environ["GANBENCH_CACHE"] = d
            group = InceptionMetrics(num_samples=n_images, num_real=n_images)
            dm = DigitsDataModule()
            fake = torch.rand(n_images, 1, 8, 8) * 2 - 1
            t = time.perf_counter()
            group(fake, dm, seed=0)
            cold = time.perf_counter() - t
            t = time.perf_counter()
            group(fake, dm, seed=0)
            cached = time.perf_counter() - t
        out.update(fid_cold_s=cold, fid_cached_s=cached)
    except Exception as e:                                   # report, never hide
        out["fid_timing_error"] = f"{type(e).__name__}: {e}"
    return out


def sweep_breakdown(results_dir: str) -> dict[str, Any] | None:
    """Where the runs under ``results_dir`` spent their time: training loop, Trainer set-up and teardown, the
    rest (data, W&B, evaluation, writing); and the sweep's span, first run start to last run end."""
    from datetime import datetime

    runs = [r for r in load_runs(results_dir) if r.get("train_time_s")]
    if not runs:
        return None
    wall = sum(r["wall_time_s"] for r in runs)
    train = sum(r["train_time_s"] for r in runs)
    loop = sum(r.get("train_loop_s", r["train_time_s"]) for r in runs)
    out = {"runs": len(runs), "wall_s": wall, "train_s": train, "loop_s": loop,
           "other_pct": 100 * (1 - train / wall), "outside_loop_pct": 100 * (1 - loop / wall)}
    try:
        ends = [datetime.fromisoformat(r["finished_at"]).timestamp() for r in runs]
        starts = [e - r["wall_time_s"] for e, r in zip(ends, runs)]
        out["span_s"] = max(ends) - min(starts)
    except (KeyError, ValueError):
        pass
    return out


# ------------------------------------------------------------------------------------------- report
def _loop_row(r: dict[str, Any]) -> str:
    f = lambda s: f"{s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f}"  # noqa: E731
    return (f"| {r['variant']}{' (' + r['options'].get('arch', 'mlp') + ')'} | {r['data']} | {r['batch_size']} | "
            f"{r.get('fuse_iterations', 1)} | {r.get('dispatch', '')} | {f(r['plain_it_s'])} | {f(r['ganbench_it_s'])} | "
            f"{r['ratio']['min']:.3f} / {r['ratio']['median']:.3f} / {r['ratio']['max']:.3f} | "
            f"{r['overhead_pct']:.1f}% |")


_LOOP_HEADER = ["| variant | data | batch | fused it./step | dispatch | plain it/s | GANBench it/s | ratio | overhead |",
                "|---|---|---|---|---|---|---|---|---|"]


def to_markdown(res: dict[str, Any]) -> str:
    feats = res.get("cpu_features") or {}
    bf16 = {True: "native bf16 (AVX512-BF16 or AMX)", False: "no native bf16 (no AVX512-BF16/AMX: torch emulates "
            "it, expect bf16 slower than fp32)", None: "unknown (flags not readable)"}[feats.get("native_bf16")]
    cpu_line = (f"CPU features seen (/proc/cpuinfo): {', '.join(feats['flags']) or 'none of avx/amx/fma/sse4'}; "
                f"{bf16}." if feats.get("flags") is not None else f"CPU features: {bf16}.")
    lines = ["# GANBench performance", "", f"Machine: {res['machine']}. Command: `{res['command']}`.", "", cpu_line,
             "",
             "## Training step: GANBench vs a hand-written PyTorch loop", "",
             "Same networks, optimisers, losses, batches and noise (tests/test_perf.py checks the parameters "
             "agree). GANBench is the runner's real path: Trainer, callbacks, on-device logging every "
             "`log_every` iterations, NaN checks, fusing and dispatch as a run chooses them. The two loops run "
             "interleaved in one process, chunk by chunk; it/s and the per-chunk ratio GANBench / plain as "
             "min / median / max; overhead = 1 − median ratio. Targets: ≤ 5% (MLP), ≤ 3% (DCGAN-32).", "",
             *(["**`--quick` is a smoke check**: a few chunks per row, so its ratios move by ±10% on a noisy "
                "machine; quote the full run.", ""] if "--quick" in res["command"] else []),
             *_LOOP_HEADER]
    lines += [_loop_row(r) for r in res["loops"]]
    if res.get("ablation"):
        lines += ["", "## What each step fast path gives (nsgan, MLP, ring8, batch 512)", "", *_LOOP_HEADER]
        lines += [_loop_row(r) for r in res["ablation"]]
        lines += ["", "Lightning dispatch: `manual_backward` and `LightningOptimizer.step` (forced by a callback "
                  "that overrides `on_after_backward`). Lean: `loss.backward()`/`optimizer.step()` where that is "
                  "exactly what Lightning would do. Fused: `fuse_iterations` GAN iterations per Lightning step."]
    if res.get("fast_paths"):
        lines += ["", "## Accelerator fast paths on this CPU (nsgan, DCGAN-32, batch 64; GANBench it/s)", "",
                  "| option | it/s (min / median / max) | vs default |", "|---|---|---|"]
        base = res["fast_paths"][0]["it_s"]["median"]
        for r in res["fast_paths"]:
            s = r["it_s"]
            lines.append(f"| {r['label']} | {s['min']:.2f} / {s['median']:.2f} / {s['max']:.2f} | "
                         f"{s['median'] / base:.2f}× |")
        lines += ["", "Measured on this machine's CPU (compile time excluded: it is in the warm-up); GPUs gain "
                  "differently. The defaults stay fp32/NCHW/eager so that scores compare exactly across machines; "
                  "bf16 changes the numbers and enters the run's identity."]
    if res.get("scaling"):
        lines += ["", "## Scaling with batch size (nsgan, MLP, ring8)", "", "| batch | it/s (median) | samples/s |",
                  "|---|---|---|"]
        for r in res["scaling"]:
            lines.append(f"| {r['batch_size']} | {r['it_s']:.1f} | {r['it_s'] * r['batch_size']:.0f} |")
    if res.get("population"):
        lines += _population_markdown(res)
    if res.get("data"):
        lines += ["", "## Data loading", "", "```", json.dumps(res["data"], indent=1, default=str)[:3000], "```"]
    if res.get("metrics"):
        m = res["metrics"]
        lines += ["", "## Metrics", "", f"- Inception features: {m.get('inception_images_per_s', 0):.1f} images/s "
                  f"({m['images']} images)"]
        if "fid_cold_s" in m:
            lines.append(f"- FID with {m['images']} generated and {m['images']} real images: cold {m['fid_cold_s']:.1f} s,"
                         f" cached real statistics {m['fid_cached_s']:.1f} s")
        if "fid_timing_error" in m:
            lines.append(f"- FID timing failed: {m['fid_timing_error']}")
    if res.get("sweep"):
        s = res["sweep"]
        lines += ["", f"## Where the sweep's time goes ({s['runs']} runs under `{res.get('results_dir', 'results')}/runs`)", "",
                  f"- {s['wall_s']:.0f} s of run wall time in all: {s.get('loop_s', s['train_s']):.0f} s in the training "
                  f"loops, {s['train_s']:.0f} s in `Trainer.fit`; outside the loops {s.get('outside_loop_pct', s['other_pct']):.1f}% "
                  "(data, model, W&B and Trainer set-up, evaluation, writing the JSON). Target: under 15%."]
        if "span_s" in s:
            lines.append(f"- The sweep's span, first run start to last run end: {s['span_s']:.0f} s (runs in parallel "
                         "jobs; process start-up before the first run and the report after the last are outside it).")
    return "\n".join(lines) + "\n"


def fast_path_rates(repeats: int, iterations: int, warmup: int) -> list[dict[str, Any]]:
    """GANBench it/s of DCGAN-32 with each accelerator option on this machine (no plain loop: the options
    change the kernels, not the harness)."""
    import warnings

    rows = []
    for label, opts in [("default (fp32, NCHW, eager)", {}), ("--channels-last true", {"channels_last": True}),
                        ("--precision bf16-mixed", {"precision": "bf16-mixed"}), ("--compile true", {"compile": True})]:
        rates, note = [], ""
        for _ in range(repeats):
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    rates.append(ganbench_rate("nsgan", "synthetic32", 64, iterations, warmup,
                                               {"arch": "dcgan", "log_every": 50, "fuse_iterations": 4, **opts}))
            except Exception as e:                                   # report, never hide
                note = f"{type(e).__name__}: {str(e).splitlines()[0][:200]}"
                break
        if rates:
            rows.append({"label": label, "options": opts, "it_s": summary(rates)})
        else:
            rows.append({"label": f"{label} (failed: {note})", "options": opts, "it_s": {"min": 0, "median": 0, "max": 0}})
    return rows


def default_sweep_cell(data: str) -> tuple[int, dict[str, Any]]:
    """The batch size and network options of ``data``'s cell in the default sweep (``benchmark/sweeps/default.yaml``;
    the dataset's own default batch size where the sweep sets none)."""
    import datamodules

    from ..train.sweep import load_sweep

    spec = load_sweep(Path(__file__).resolve().parents[1] / "sweeps" / "default.yaml")
    cell = dict((spec.get("dataset_options") or {}).get(data, {}))
    default = datamodules.get_datamodule(data)().batch_size
    return int(cell.get("batch_size", default)), {k: cell[k] for k in ("hidden", "depth", "activation") if k in cell}


def population_rate(variant: str, data: str, batch_size: int, seeds: list[int], iterations: int, warmup: int,
                    options: dict[str, Any], data_device: str | None = None) -> float:
    """Member-iterations/s of a :class:`~models.population.GANPopulation` of ``len(seeds)`` members (GAN
    iterations/s × members), on the population's real path (its Trainer and stacked loader; the data on
    ``data_device``, default the CPU), timed from iteration ``warmup``."""
    from models.population import GANPopulation

    marks: dict[str, float] = {}
    Clock = clock_callback(warmup, marks)

    quiet_lightning()
    opts = {"variant": variant, "data": data, "batch_size": batch_size, "wandb": "disabled",
            "engine": "population", **options, "iterations": warmup + iterations}
    resolved = resolve(opts, datamodule_cls=_synthetic32() if data == "synthetic32" else None)
    dm = resolved.datamodule_cls(seed=seeds[0], **resolved.data)
    dm.setup()
    pop = GANPopulation(resolved.variant_cls, seeds, data_shape=dm.dims, num_classes=dm.num_classes,
                        data_kind=dm.kind, **resolved.model)
    trainer = make_trainer(resolved, None, [Clock()])
    trainer.fit(pop, train_dataloaders=dm.population_dataloader(seeds, device=data_device))
    return len(seeds) * (pop.iteration - marks["it0"]) / (marks["t1"] - marks["t0"])


def population_scaling(variant: str, data: str, batch_size: int, sizes: list[int], iterations: int, warmup: int,
                       repeats: int, options: dict[str, Any]) -> dict[str, Any]:
    """Member-iterations/s of populations of each size against single runs (GANBench's real path), interleaved
    in one process: every repeat times one single run, then one population of each size, so each ratio
    compares measurements taken minutes apart at most; medians over repeats."""
    singles: list[float] = []
    pops: dict[int, list[float]] = {s: [] for s in sizes}
    ratios: dict[int, list[float]] = {s: [] for s in sizes}
    for _ in range(repeats):
        single = ganbench_rate(variant, data, batch_size, iterations, warmup, options)
        singles.append(single)
        for s in sizes:
            its = max(warmup + 2, iterations // max(1, s // 4))       # large populations: fewer iterations
            rate = population_rate(variant, data, batch_size, list(range(s)), its - warmup, warmup, options)
            pops[s].append(rate)
            ratios[s].append(rate / single)
            print(f"perf: population {variant} {data} S={s}: {rate:.1f} member-it/s vs single {single:.1f} it/s "
                  f"({rate / single:.2f}x)", flush=True)
    rows = [{"size": s, "member_it_s": summary(pops[s]), "ratio": summary(ratios[s])} for s in sizes]
    best = max(rows, key=lambda r: r["ratio"]["median"])
    return {"variant": variant, "data": data, "batch_size": batch_size, "options": options, "repeats": repeats,
            "single_it_s": summary(singles), "rows": rows, "best_size": best["size"],
            "best_ratio": best["ratio"]["median"]}


def _population_markdown(res: dict[str, Any]) -> list[str]:
    lines = ["", "## Populations: member-iterations/s against single runs", "",
             "A population trains S runs of one variant that differ only in seed as one vectorised step "
             "(`models/population.py`; sweeps: `--population S`). Each repeat times one single run (GANBench's real "
             "path) and then one population of each size, interleaved in one process; member-it/s = GAN "
             "iterations/s × S; ratio = member-it/s / the same repeat's single-run it/s (min / median / max over "
             "repeats). Target on this CPU (toy MLP): ≥ 1.7× at the best S."]
    for p in res["population"]:
        s = p["single_it_s"]
        lines += ["", f"**{p['variant']} on {p['data']}** (batch {p['batch_size']}, {p['options']}): single run "
                      f"{s['min']:.1f} / {s['median']:.1f} / {s['max']:.1f} it/s; best S = {p['best_size']} at "
                      f"{p['best_ratio']:.2f}×", "", "| S | member-it/s (min / median / max) | ratio to single |",
                  "|---|---|---|"]
        for r in p["rows"]:
            m, q = r["member_it_s"], r["ratio"]
            lines.append(f"| {r['size']} | {m['min']:.1f} / {m['median']:.1f} / {m['max']:.1f} | "
                         f"{q['min']:.2f} / {q['median']:.2f} / {q['max']:.2f}× |")
    return lines


def run_perf(args: argparse.Namespace) -> dict[str, Any]:
    import os
    import platform

    import models

    torch.set_num_threads(args.threads)
    quick = args.quick
    iters, warm, reps = (100, 20, 2) if quick else (400, 50, 3)
    if args.variants == "all":
        variants = sorted(models.VARIANTS)
    else:
        variants = args.variants.split(",") if args.variants else list(DEFAULT_VARIANTS)
        unknown = [v for v in variants if v not in models.VARIANTS]
        if unknown:
            raise SystemExit(f"error: unknown variant(s) {', '.join(unknown)}; choose from: "
                             f"{', '.join(sorted(models.VARIANTS))} or all")
    from ..train.options import BF16_CPU_FLAGS, cpu_flags

    flags = cpu_flags()
    seen = sorted(f for f in (flags or ()) if f.startswith(("avx", "amx", "fma", "sse4")) or f in ("neon", "asimd"))
    res: dict[str, Any] = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                                      f"torch {torch.__version__}, {args.threads} thread(s)",
                           "cpu_features": {"flags": seen if flags is not None else None,
                                            "native_bf16": None if flags is None
                                            else any(f in flags for f in BF16_CPU_FLAGS)},
                           "command": "python -m benchmark perf" + (" --quick" if quick else ""), "loops": []}
    sizes = [int(x) for x in str(args.population_sizes).split(",") if x.strip()]
    if getattr(args, "only_population", False):
        res["command"] += (f" --only-population --population-sizes {args.population_sizes} --population-batch "
                           f"{args.population_batch} --population-data {getattr(args, 'population_data', 'ring8')}"
                           + (" --skip-dcgan" if args.skip_dcgan else ""))
        variants = []
        args.skip_ablation = args.skip_fast_paths = args.skip_data = args.skip_metrics = True
    chunk = 25 if quick else 50
    for v in variants:
        print(f"perf: {v} mlp ring8", flush=True)
        # n_critic = 5 variants cost ~5-10x more per iteration: a quarter of the iterations, smaller chunks
        slow = models.get_variant(v).Config().n_critic > 1
        res["loops"].append(compare_loops(v, "ring8", 512, iters // 4 if slow else iters, warm // 2 if slow else warm,
                                          reps, {"log_every": 50}, 16 if slow else chunk))
    if not args.skip_dcgan and variants:
        print("perf: nsgan dcgan 32x32", flush=True)
        res["loops"].append(compare_loops("nsgan", "synthetic32", 64, 32, 8, 2 if quick else reps,
                                          {"arch": "dcgan", "log_every": 50, "fuse_iterations": 8}, chunk=8))
    if not args.skip_ablation:
        print("perf: what fusing and lean dispatch give (nsgan)", flush=True)
        default = next((r for r in res["loops"] if r["variant"] == "nsgan" and r["data"] == "ring8"), None)
        res["ablation"] = [
            compare_loops("nsgan", "ring8", 512, iters, warm, reps, {"log_every": 50, "fuse_iterations": 1}, chunk,
                          lightning_dispatch=True, label="before: Lightning dispatch, 1 iteration per step"),
            compare_loops("nsgan", "ring8", 512, iters, warm, reps, {"log_every": 50, "fuse_iterations": 1}, chunk,
                          label="lean dispatch, 1 iteration per step"),
            default or compare_loops("nsgan", "ring8", 512, iters, warm, reps, {"log_every": 50}, chunk),
        ]
    if not args.skip_fast_paths:
        print("perf: accelerator fast paths on dcgan 32x32", flush=True)
        res["fast_paths"] = fast_path_rates(2, 16, 4)
    if sizes and not args.skip_population:
        res["population"] = []
        for data in [d for d in str(getattr(args, "population_data", "ring8")).split(",") if d.strip()]:
            batch, cell = (args.population_batch, {}) if data == "ring8" else default_sweep_cell(data)
            print(f"perf: populations vs single runs (nsgan, MLP, {data})", flush=True)
            res["population"].append(population_scaling("nsgan", data, batch, sizes, 60 if quick else 200, 10,
                                                        2 if quick else 3, {"log_every": 50, **cell}))
        if not args.skip_dcgan:
            # the single run fuses 16 batches per Lightning step (its clock ticks at step ends): time past the
            # first step, over two more
            res["population"].append(population_scaling("nsgan", "synthetic32", 64, [s for s in sizes if s <= 8],
                                                         32, 16, 2, {"arch": "dcgan", "log_every": 50}))
    if getattr(args, "only_population", False):
        out = Path(args.results_dir)
        md = "\n".join([f"# GANBench populations", "", f"Machine: {res['machine']}. Command: `{res['command']}`.",
                         *_population_markdown(res)]) + "\n"
        atomic_write_json(out / "perf_population.json", res)
        atomic_write_text(out / "perf_population.md", md)
        print(md)
        print(f"wrote {out / 'perf_population.md'} and {out / 'perf_population.json'}")
        return res
    res["scaling"] = []
    for bs in (64, 256, 1024):
        r = summary([ganbench_rate("nsgan", "ring8", bs, iters, warm, {}) for _ in range(reps)])
        res["scaling"].append({"batch_size": bs, "it_s": r["median"], "it_s_range": r})
    if not args.skip_data:
        print("perf: data loaders", flush=True)
        res["data"] = data_throughput(quick)
    if not args.skip_metrics:
        print("perf: metrics", flush=True)
        res["metrics"] = metric_timing(20 if quick else 50)
    res["sweep"] = sweep_breakdown(args.results_dir)
    res["results_dir"] = args.results_dir
    out = Path(args.results_dir)
    atomic_write_json(out / "perf.json", res)
    atomic_write_text(out / "perf.md", to_markdown(res))
    print(to_markdown(res))
    print(f"wrote {out / 'perf.md'} and {out / 'perf.json'}")
    return res


def cmd_perf(args: argparse.Namespace) -> int:
    run_perf(args)
    return 0
