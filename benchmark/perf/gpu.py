"""``python -m benchmark perf --suite gpu``: GANBench on one CUDA GPU, in under 8 minutes.

Writes ``results/perf_gpu.md`` and ``results/perf_gpu.json``. Every number is GANBench's real path (its Trainer,
module and loaders; :mod:`benchmark.perf.harness`), timed after a warm-up with the device synchronised
(:func:`benchmark.perf.harness.device_clock`). The items, in the order they run:

1. **Inception**: images/s of the FID feature extractor on 2,000 generated 32×32 images (upsampled inside).
2. **Every registered variant, fp32**, for 50 GAN iterations after 10 of warm-up: the MLP on ring8 (batch 512)
   and DCGAN-32 on synthetic 32×32 images (batch 64).
3. **Populations** (:mod:`models.population`): member-iterations/s of nsgan at S = 1, 2, 4, …, 1024 on ring8
   (MLP, batch 512) and S = 1, …, 32 on DCGAN-32 (batch 64), the members' data on the GPU, each against a single
   run timed just before.
4. **Every variant in bf16** (MLP and DCGAN-32, ``--precision bf16-mixed``) and **bf16 + channels-last**
   (DCGAN-32).
5. **``--compile true``** of nsgan (a plain step) and wgan_gp (5 critic steps and a gradient penalty) on both
   networks: compilation (a minute or more per run) falls in the warm-up, so it is last.

**Time guard.** Before each item the suite estimates its seconds (from the last measured item of its kind, scaled
by its relative size; a fixed guess before any) and skips it when the elapsed time plus that estimate would pass
the budget (``--budget-s``, default :data:`DEFAULT_BUDGET_S`), naming why in the report. A failing item (a variant
that cannot run bf16, out of memory) is recorded with its error, and the suite goes on.

Without CUDA it refuses (exit 2) before anything is written; ``--dry-run`` prints the plan with its estimates.
"""
from __future__ import annotations

import argparse
import gc
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from ..errors import UsageError
from ..io import atomic_write_json, atomic_write_text

DEFAULT_BUDGET_S = 420.0        # 7 minutes of items: start-up (~20 s) and writing keep the command under 8
RING_SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
DCGAN_SIZES = (1, 2, 4, 8, 16, 32)
# (network, mode) columns of the variant table, in the order they run after the fp32 ones
MODES = {"fp32": {}, "bf16": {"precision": "bf16-mixed"},
         "bf16 + channels-last": {"precision": "bf16-mixed", "channels_last": True}, "compile": {"compile": True}}
NETWORKS = {"mlp": ("ring8", {}), "dcgan": ("synthetic32", {"arch": "dcgan"})}
# first guesses (seconds) per kind of item, before one of that kind has been measured
GUESS_S = {"inception": 30.0, "variant": 2.5, "single": 3.0, "population": 0.5, "compile": 90.0}


@dataclass
class Item:
    """One measurement: ``run()`` returns its fields; ``weight`` is its size relative to the other items of its
    ``kind`` (e.g. S for a population), which scales the time guard's estimate."""

    section: str
    label: str
    kind: str
    run: Callable[[], dict[str, Any]] = field(repr=False)
    weight: float = 1.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Plan:
    """What the suite measures (the defaults are the issue's; tests shrink them to run on a CPU)."""

    device: str = "cuda"
    variants: tuple[str, ...] = ()                 # empty: every registered variant
    iterations: int = 50
    warmup: int = 10
    mlp_batch: int = 512
    dcgan_batch: int = 64
    ring_sizes: tuple[int, ...] = RING_SIZES
    dcgan_sizes: tuple[int, ...] = DCGAN_SIZES
    population_iterations: int = 30
    inception_images: int = 2000
    modes: tuple[str, ...] = tuple(MODES)
    compile_variants: tuple[str, ...] = ("nsgan", "wgan_gp")    # one plain step, one n_critic 5 + penalty
    extra: dict[str, Any] = field(default_factory=dict)     # options added to every run (tests: tiny networks)

    def options(self, network: str, mode: str = "fp32") -> dict[str, Any]:
        accelerator = "gpu" if self.device == "cuda" else self.device
        return {"accelerator": accelerator, "log_every": 50, **NETWORKS[network][1], **MODES[mode], **self.extra}


def _variant_item(plan: Plan, variant: str, network: str, mode: str) -> Item:
    from .harness import ganbench_rate

    data, _ = NETWORKS[network]
    batch = plan.mlp_batch if network == "mlp" else plan.dcgan_batch
    opts = plan.options(network, mode)

    def run() -> dict[str, Any]:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {"it_s": ganbench_rate(variant, data, batch, plan.iterations, plan.warmup, opts)}

    slow = 2.0 if _n_critic(variant) > 1 else 1.0
    return Item("variants", f"{variant} {network} {mode}", "compile" if mode == "compile" else "variant", run,
                slow * (2.0 if network == "dcgan" else 1.0),
                {"variant": variant, "network": network, "mode": mode, "batch_size": batch})


def _n_critic(variant: str) -> int:
    import models

    return models.get_variant(variant).Config().n_critic


def _population_items(plan: Plan, network: str, sizes: tuple[int, ...]) -> list[Item]:
    from .harness import ganbench_rate, population_rate

    data, _ = NETWORKS[network]
    batch = plan.mlp_batch if network == "mlp" else plan.dcgan_batch
    opts = plan.options(network)
    its, warm = plan.population_iterations, plan.warmup
    scale = 1.0 if network == "mlp" else 4.0
    single = Item("population", f"nsgan {network} single run", "single",
                  lambda: {"it_s": ganbench_rate("nsgan", data, batch, its, warm, opts)}, scale,
                  {"network": network, "size": 0, "batch_size": batch})
    items = [single]
    for s in sizes:
        def run(s=s) -> dict[str, Any]:
            return {"member_it_s": population_rate("nsgan", data, batch, list(range(s)), its, warm, opts,
                                                   data_device=plan.device)}

        items.append(Item("population", f"nsgan {network} S={s}", "population", run, scale * (1 + s / 8),
                          {"network": network, "size": s, "batch_size": batch}))
    return items


def _inception_item(plan: Plan) -> Item:
    def run() -> dict[str, Any]:
        from ..score.fidelity import InceptionEmbedder
        from ..score.inception import resolve_inception_weights
        from .harness import device_clock

        weights = resolve_inception_weights(allow_download=False)
        batch = 250 if plan.device == "cuda" else 32
        emb = InceptionEmbedder(weights, device=plan.device, batch_size=batch)
        g = torch.Generator().manual_seed(0)
        imgs = torch.rand(plan.inception_images, 3, 32, 32, generator=g) * 2 - 1
        emb(imgs[:batch])                                 # load the network, pick the kernels
        t = device_clock(torch.device(plan.device))
        emb(imgs)                                         # features come back to the host: synchronised
        return {"images_per_s": plan.inception_images / (time.perf_counter() - t), "batch_size": batch,
                "images": plan.inception_images, "weights": weights.protocol()}

    return Item("inception", f"Inception features, {plan.inception_images} images", "inception", run)


def build_plan(plan: Plan) -> list[Item]:
    """The suite's items in the order they run (see the module docstring)."""
    import models

    variants = list(plan.variants) or sorted(models.VARIANTS)
    items: list[Item] = []
    if plan.inception_images:
        items.append(_inception_item(plan))
    if "fp32" in plan.modes:
        items += [_variant_item(plan, v, net, "fp32") for net in NETWORKS for v in variants]
    if plan.ring_sizes:
        items += _population_items(plan, "mlp", plan.ring_sizes)
    if plan.dcgan_sizes:
        items += _population_items(plan, "dcgan", plan.dcgan_sizes)
    for mode in ("bf16", "bf16 + channels-last"):
        if mode in plan.modes:
            nets = ["dcgan"] if "channels" in mode else list(NETWORKS)
            items += [_variant_item(plan, v, net, mode) for net in nets for v in variants]
    if "compile" in plan.modes:
        items += [_variant_item(plan, v, net, "compile") for net in NETWORKS for v in plan.compile_variants
                  if v in variants]
    return items


def estimate(item: Item, measured: dict[str, float]) -> float:
    """Seconds ``item`` should take: the last measured item of its kind, per unit of weight, times its weight;
    before any, :data:`GUESS_S` of its kind times its weight."""
    per = measured.get(item.kind)
    return (per if per is not None else GUESS_S[item.kind]) * item.weight


def run_items(items: list[Item], budget_s: float, clock: Callable[[], float] = time.monotonic,
              echo: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run ``items`` in order under the time guard (module docstring); one row per item: its ``info``, its
    results, ``status`` (ok, failed, skipped), ``seconds`` and ``note``."""
    start = clock()
    measured: dict[str, float] = {}
    rows = []
    for item in items:
        elapsed = clock() - start
        guess = estimate(item, measured)
        row = {"section": item.section, "label": item.label, **item.info}
        if elapsed + guess > budget_s:
            row.update(status="skipped", seconds=0.0,
                       note=f"time guard: {elapsed:.0f} s of the {budget_s:.0f} s budget used, this item needs "
                            f"about {guess:.0f} s")
            echo(f"perf gpu: skip {item.label} ({row['note']})")
            rows.append(row)
            continue
        echo(f"perf gpu: {item.label} (elapsed {elapsed:.0f} s, estimate {guess:.0f} s)")
        t = clock()
        try:
            row.update(item.run(), status="ok")
        except Exception as e:                                  # report, never hide; the suite goes on
            first = (str(e).strip().splitlines() or [""])[0]
            row.update(status="failed", note=f"{type(e).__name__}: {first[:200]}")
            echo(f"perf gpu: {item.label} failed: {row['note']}")
        row["seconds"] = clock() - t
        measured[item.kind] = row["seconds"] / item.weight
        rows.append(row)
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return rows


def machine(device: str) -> str:
    if device == "cuda" and torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        return (f"{p.name} ({p.total_memory / 2**30:.0f} GiB, compute capability {p.major}.{p.minor}), torch "
                f"{torch.__version__}, CUDA {torch.version.cuda}, bf16 supported: {torch.cuda.is_bf16_supported()}")
    return f"{platform.processor() or platform.machine()} ({device}), torch {torch.__version__}"


def _cell(row: dict[str, Any] | None, key: str, fmt: str = "{:.1f}") -> str:
    if row is None:
        return "–"
    if row["status"] == "ok":
        return fmt.format(row[key])
    return "skipped (time)" if row["status"] == "skipped" else "failed"


def to_markdown(res: dict[str, Any]) -> str:
    """``perf_gpu.md`` from :func:`run_suite`'s result."""
    rows = res["rows"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    failed = [r for r in rows if r["status"] == "failed"]
    p = res["plan"]
    lines = ["# GANBench on one GPU", "", f"Machine: {res['machine']}. Command: `{res['command']}`. "
             f"{res['elapsed_s']:.0f} s of items under a {res['budget_s']:.0f} s budget: {len(rows)} planned, "
             f"{sum(r['status'] == 'ok' for r in rows)} measured, {len(failed)} failed, {len(skipped)} skipped by the "
             "time guard.", "",
             "Every rate is GANBench's real path (Trainer, module, loaders), timed with the device synchronised after "
             f"{p['warmup']} warm-up iterations. it/s = GAN iterations per second (one G step and n_critic D steps)."]
    inc = [r for r in rows if r["section"] == "inception"]
    if inc:
        r = inc[0]
        lines += ["", "## Inception (FID features)", ""]
        lines.append(f"- {r['label']}: {_cell(r, 'images_per_s')} images/s"
                     + (f" (batch {r['batch_size']}; weights: {r['weights']})" if r["status"] == "ok" else
                        f" ({r.get('note', '')})"))
    var = [r for r in rows if r["section"] == "variants"]
    if var:
        cols = [(net, mode) for net in NETWORKS for mode in MODES
                if any(r["network"] == net and r["mode"] == mode for r in var)]
        lines += ["", f"## Every variant, {p['iterations']} iterations (it/s)", "",
                  f"MLP: ring8, 2×128 tanh, batch {p['mlp_batch']}. DCGAN: 32×32 synthetic images, batch "
                  f"{p['dcgan_batch']}. bf16 = `--precision bf16-mixed`; channels-last = `--channels-last true`; "
                  "compile = `--compile true` (compilation in the warm-up).", "",
                  "| variant | " + " | ".join(f"{net.upper()} {mode}" for net, mode in cols) + " |",
                  "|---|" + "---|" * len(cols)]
        for v in dict.fromkeys(r["variant"] for r in var):
            cells = []
            for net, mode in cols:
                hit = next((r for r in var if (r["variant"], r["network"], r["mode"]) == (v, net, mode)), None)
                cells.append(_cell(hit, "it_s"))
            lines.append(f"| {v} | " + " | ".join(cells) + " |")
    pop = [r for r in rows if r["section"] == "population"]
    for net in NETWORKS:
        mine = [r for r in pop if r["network"] == net]
        if not mine:
            continue
        single = next(r for r in mine if r["size"] == 0)
        base = single["it_s"] if single["status"] == "ok" else None
        lines += ["", f"## Populations: nsgan, {net.upper()} (batch {single['batch_size']})", "",
                  f"Single run: {_cell(single, 'it_s')} it/s. member-it/s = GAN iterations/s × S; ratio = member-it/s "
                  "/ the single run's it/s.", "", "| S | member-it/s | ratio to single | GAN it/s |", "|---|---|---|---|"]
        for r in mine:
            if r["size"] == 0:
                continue
            ok = r["status"] == "ok"
            ratio = f"{r['member_it_s'] / base:.2f}×" if ok and base else "–"
            gan = f"{r['member_it_s'] / r['size']:.1f}" if ok else "–"
            lines.append(f"| {r['size']} | {_cell(r, 'member_it_s')} | {ratio} | {gan} |")
    if failed or skipped:
        lines += ["", "## Not measured", ""]
        lines += [f"- {r['label']}: {r['status']}: {r['note']}" for r in failed + skipped]
    return "\n".join(lines) + "\n"


def run_suite(plan: Plan, budget_s: float, command: str, results_dir: str | None) -> dict[str, Any]:
    """Run the plan under the guard; write ``perf_gpu.md``/``.json`` under ``results_dir`` (``None``: nothing)."""
    import dataclasses

    t = time.monotonic()
    rows = run_items(build_plan(plan), budget_s)
    res = {"machine": machine(plan.device), "command": command, "budget_s": budget_s,
           "elapsed_s": time.monotonic() - t, "plan": dataclasses.asdict(plan), "rows": rows}
    if results_dir is not None:
        out = Path(results_dir)
        atomic_write_json(out / "perf_gpu.json", res)
        atomic_write_text(out / "perf_gpu.md", to_markdown(res))
        print(f"wrote {out / 'perf_gpu.md'} and {out / 'perf_gpu.json'}")
    return res


def cmd_gpu_suite(args: argparse.Namespace) -> int:
    import models

    budget = DEFAULT_BUDGET_S if args.budget_s is None else args.budget_s
    if not budget > 0:
        raise UsageError(f"--budget-s {args.budget_s}: give a positive number of seconds (default {DEFAULT_BUDGET_S:.0f})")
    variants = tuple(sorted(models.VARIANTS)) if args.variants in ("", "all") else tuple(args.variants.split(","))
    unknown = [v for v in variants if v not in models.VARIANTS]
    if unknown:
        raise UsageError(f"--variants: unknown variant(s) {', '.join(unknown)}; choose from "
                         f"{', '.join(sorted(models.VARIANTS))} or all")
    plan = Plan(variants=variants)
    command = "python -m benchmark perf --suite gpu" + (f" --variants {args.variants}" if args.variants else "") + \
        (f" --budget-s {args.budget_s:g}" if args.budget_s is not None else "")
    if args.dry_run:
        measured: dict[str, float] = {}
        total = 0.0
        for item in build_plan(plan):
            guess = estimate(item, measured)
            total += guess
            print(f"{item.section:10s} {item.label:40s} ~{guess:5.0f} s")
        print(f"{total:.0f} s estimated (first guesses; the guard re-estimates from measured items) under a "
              f"{budget:.0f} s budget; nothing run")
        return 0
    if not torch.cuda.is_available():
        raise UsageError(f"perf --suite gpu needs a CUDA GPU, and torch.cuda.is_available() is False here (torch "
                         f"{torch.__version__}, CUDA build {torch.version.cuda or 'none'}): run it on a CUDA machine, "
                         "or add --dry-run to print its plan")
    res = run_suite(plan, budget, command, args.results_dir)
    print(to_markdown(res))
    return 0
