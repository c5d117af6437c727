"""Sweeps: variants × datasets × seeds × a hyper-parameter grid, resumable and failure-isolated.

A sweep file (YAML, safe-loaded) holds::

    name: toy                   # W&B group and report title
    iterations: 2000            # budget in GAN iterations (any option may be set here, for every run)
    seeds: [0, 1, 2]
    variants: [minimax, nsgan]  # or `all`: every registered variant (likewise `datasets: all`)
    datasets: [ring8, grid25, digits]
    options: {}                 # overrides for every run
    dataset_options: {digits: {iterations: 1000}}
    variant_options: {wgan: {n_critic: 5}}
    grid: {lr_g: [1e-4, 2e-4]}  # cartesian product over these
    search: {trials: 8, seed: 0, spaces: {default: {lr_g: {log_uniform: [1e-4, 5e-3]}}}}  # random search
    recipes: recipes.yaml       # tuned per-(variant, dataset) options (``benchmark tune``), beside this file
    quick: {iterations: 100, seeds: [0]}   # what --quick changes

Precedence, lowest first: top-level and ``options``, ``dataset_options``, ``variant_options``, the recipe of
the (variant, dataset), ``grid``, the search trial's draws, ``quick``. A variant's optimiser recipe (a field in
:data:`RECIPE_FIELDS` its ``Config`` or its tuned recipe sets) is never replaced by a shared level (top-level,
``options``, ``dataset_options``): that is an error naming the fix, unless ``override_recipes: true`` says it
is meant (then a warning per variant, and the values are in every run's config as always).

Every run is keyed by its full configuration (``benchmark.io.run_id``): re-running skips runs whose JSON already
says completed or diverged, so an interrupted sweep loses nothing. All runs are validated before the first
one starts, so a typo fails in a second, not after an hour.
"""
from __future__ import annotations

import contextlib
import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamodules import DATAMODULES
from models import VARIANTS, ConfigError

from ..io import FINISHED, load_yaml_mapping, record_status, run_id
from .interrupt import STATE, catch_signals, install_persistent
from .options import resolve
from .progress import (
    CLEAR,
    ProgressDisplay,
    QueueReporter,
    format_duration,
    progress_enabled,
)
from .recipes import load_recipes, recipe_options
from .run import execute
from .search import parse_search

SWEEP_KEYS = {"name", "description", "seeds", "variants", "datasets", "options", "dataset_options",
              "variant_options", "grid", "quick", "search", "recipes", "override_recipes"}
# a variant's optimiser recipe: a shared sweep level may not silently replace these where the variant sets them
RECIPE_FIELDS = ("optimizer", "lr_g", "lr_d", "beta1", "beta2", "n_critic")
DEFAULT_SWEEP = Path(__file__).parents[1] / "sweeps" / "default.yaml"


@dataclass
class PlannedRun:
    options: dict[str, Any]
    run_id: str
    path: Path
    trial: dict[str, Any] | None = None     # {"sweep", "index", "params"} for a search trial, else None


def expand(spec: dict[str, Any], *, quick: bool = False, results_dir: str | None = None,
           base_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """The flat option dicts of every run a sweep spec declares (validated by the caller).

    A search trial's dict also holds ``"trial": {"sweep", "index", "params"}`` (not a run option: :func:`plan`
    takes it out). ``base_dir`` is where a relative ``recipes`` path is looked up (the sweep file's directory).
    """
    spec = dict(spec)
    base_dir = base_dir or spec.pop("_base_dir", None)
    spec.pop("_base_dir", None)
    unknown = sorted(k for k in spec if k not in SWEEP_KEYS and not isinstance(k, str))
    if unknown:
        raise ConfigError(f"sweep keys must be names, got {unknown}")
    quick_options: dict[str, Any] = {}
    if quick:
        q = spec.get("quick") or {}
        if not isinstance(q, dict):
            raise ConfigError("sweep key 'quick' must be a mapping of overrides")
        spec.update({k: v for k, v in q.items() if k in SWEEP_KEYS})
        quick_options = {k: v for k, v in q.items() if k not in SWEEP_KEYS}   # win over every other level
    top_level_options = {k: v for k, v in spec.items() if k not in SWEEP_KEYS}
    spec = with_all_expanded(spec)
    registries = {"variants": VARIANTS, "datasets": DATAMODULES}
    for key in ("seeds", "variants", "datasets"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            raise ConfigError(f"sweep key {key!r} must be a non-empty list"
                              + (" or 'all'" if key in registries else ""))
    grid = spec.get("grid") or {}
    for k, v in grid.items():
        if not isinstance(v, list) or not v:
            raise ConfigError(f"grid entry {k!r} must be a non-empty list of values")
    for key in ("options", "dataset_options", "variant_options"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise ConfigError(f"sweep key {key!r} must be a mapping")
    search = parse_search(spec["search"], spec["variants"]) if spec.get("search") is not None else None
    recipes = load_recipes(Path(base_dir or ".") / spec["recipes"]) if spec.get("recipes") else {}
    runs = []
    names = list(grid)
    for data in spec["datasets"]:
        shared = {**top_level_options, **(spec.get("options") or {}),
                  **((spec.get("dataset_options") or {}).get(data) or {})}
        for variant in spec["variants"]:
            recipe = recipe_options(recipes, variant, data)
            _guard_recipe(variant, data, shared, recipe, allow=bool(spec.get("override_recipes")))
            trials = range(search.trials) if search else [None]
            for trial, values in itertools.product(trials, itertools.product(*[grid[n] for n in names])):
                drawn = search.params(variant, trial) if search else {}
                for seed in spec["seeds"]:
                    opts = {**shared, **((spec.get("variant_options") or {}).get(variant) or {}), **recipe,
                            **dict(zip(names, values)), **drawn, **quick_options,
                            "variant": variant, "data": data, "seed": seed}
                    if spec.get("name"):
                        opts.setdefault("group", spec["name"])
                    if results_dir is not None:
                        opts["results_dir"] = results_dir
                    if search:
                        opts["trial"] = {"sweep": spec.get("name") or "", "index": trial,
                                         "params": {d.name: opts[d.name] for d in search.space(variant)
                                                    if d.name in opts}}
                    runs.append(opts)
    return runs


def with_all_expanded(spec: dict[str, Any]) -> dict[str, Any]:
    """``variants: all`` / ``datasets: all`` -> every registered name, sorted (a copy; other keys untouched)."""
    registries = {"variants": VARIANTS, "datasets": DATAMODULES}
    return {**spec, **{k: sorted(reg) for k, reg in registries.items() if spec.get(k) == "all"}}


def _guard_recipe(variant: str, data: str, shared: dict[str, Any], recipe: dict[str, Any], *, allow: bool) -> None:
    """Refuse (or, with ``allow``, warn about) a shared option replacing a field of the variant's recipe."""
    from models.config import GANConfig

    if variant not in VARIANTS:                   # plan() names the unknown variant with the valid ones
        return
    cls = VARIANTS[variant].Config
    declared = {f for k in cls.__mro__[:cls.__mro__.index(GANConfig)] for f in vars(k).get("__annotations__", {})}
    own = {f: getattr(cls, f) for f in RECIPE_FIELDS if f in declared}     # the variant's paper recipe
    own.update({f: v for f, v in recipe.items() if f in RECIPE_FIELDS})      # its tuned recipe
    clash = {f: (shared[f], own[f]) for f in own if f in shared and shared[f] != own[f]}
    if not clash:
        return
    what = ", ".join(f"{f}={new!r} (its recipe: {old!r})" for f, (new, old) in sorted(clash.items()))
    msg = (f"a shared sweep option would replace {variant}'s optimiser recipe on {data}: {what}. "
           f"Set it under variant_options.{variant} (or in the recipes file) instead, drop it from the shared "
           f"level, or add `override_recipes: true` to the sweep if every variant must use it")
    if not allow:
        raise ConfigError(msg)
    print(f"warning: {msg.split('. Set it')[0]} (override_recipes: true)", file=sys.stderr)


def load_sweep(path: str | os.PathLike) -> dict[str, Any]:
    spec = load_yaml_mapping(path, "sweep")
    spec.setdefault("name", Path(path).stem)
    spec.setdefault("_base_dir", str(Path(path).parent))
    return spec


def plan(spec: dict[str, Any], *, quick: bool = False, results_dir: str | None = None) -> list[PlannedRun]:
    """Expand and validate every run; raises ``ConfigError`` naming the first bad run."""
    out = []
    spec = dict(spec)
    base_dir = spec.pop("_base_dir", None)
    for opts in expand(spec, quick=quick, results_dir=results_dir, base_dir=base_dir):
        trial = opts.pop("trial", None)
        try:
            resolved = resolve(opts)
        except ConfigError as e:
            at = f"trial {trial['index']}/" if trial else ""
            raise ConfigError(f"sweep run {opts['variant']}/{opts['data']}/{at}seed {opts['seed']}: {e}") from None
        rid = run_id(resolved.config())
        out.append(PlannedRun(opts, rid, Path(resolved.run.results_dir) / "runs" / f"{rid}.json", trial))
    return out


def is_done(path: Path) -> bool:
    """A run is done when its JSON exists and says completed or diverged (failed and interrupted runs are
    retried, resuming from their checkpoint; a file that is not a run record is not done)."""
    return record_status(path) in FINISHED


class Progress:
    """``[k/n] variant data seed … it/s, ETA`` lines; cheap (one line per run plus one per ~10 s)."""

    def __init__(self, total: int, stream=sys.stdout) -> None:
        self.total, self.stream, self.t0, self.done, self.train_s = total, stream, time.perf_counter(), 0, 0.0

    def label(self, k: int, run: PlannedRun) -> str:
        o = run.options
        return f"[{k}/{self.total}] {o['variant']:15s} {o['data']:10s} seed {o['seed']} ..."

    def start(self, k: int, run: PlannedRun) -> None:
        self.stream.write(self.label(k, run) + " ")
        self.stream.flush()

    def finish(self, record: dict, remaining: int) -> None:
        self.done += 1
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * remaining
        ips = record.get("iterations_per_s")
        ips_s = f"{ips:7.0f} it/s" if ips else "        -"
        self.stream.write(f"{record['status']:9s} {record['wall_time_s']:6.1f} s {ips_s}   ETA {eta / 60:5.1f} min\n")
        self.stream.flush()

    def skip(self, k: int, run: PlannedRun) -> None:
        o = run.options
        self.stream.write(f"[{k}/{self.total}] {o['variant']:15s} {o['data']:10s} seed {o['seed']} ... "
                          f"done already (skipped)\n")


def run_sweep(spec: dict[str, Any], *, quick: bool = False, results_dir: str | None = None, jobs: int = 1,
              stream=sys.stdout, progress: str = "auto") -> list[dict]:
    """Run every planned run not already done; returns the records of the runs executed now.

    ``progress`` (``auto``/``on``/``off``, see :mod:`benchmark.train.progress`): a live line per run, or with
    ``jobs > 1`` a sweep line (runs done, running, the running runs' iterations, elapsed, ETA) redrawn while
    the workers train; ``auto`` shows it when ``stream`` is a TTY and ``$CI`` is not set.
    """
    live = progress_enabled(progress, stream)
    planned = plan(spec, quick=quick, results_dir=results_dir)
    todo = [(k, r) for k, r in enumerate(planned, 1) if not is_done(r.path)]
    progress = Progress(len(planned), stream)
    for k, r in enumerate(planned, 1):
        if is_done(r.path):
            progress.skip(k, r)
    with catch_signals():
        if jobs > 1 and len(todo) > 1:
            records = _run_parallel(todo, jobs, progress, live=live)
        else:
            records = []
            for i, (k, r) in enumerate(todo):
                if STATE.signum:
                    break
                progress.start(k, r)
                display = [ProgressDisplay(progress.label(k, r), stream)] if live else []
                rec = execute({**r.options, "progress": "off"}, callbacks=display, annotations=_annotations(r))
                records.append(rec)
                progress.finish(rec, len(todo) - i - 1)
    if STATE.signum:
        finished = sum(rec.get("status") in FINISHED for rec in records)
        progress.stream.write(f"sweep interrupted by {STATE.name}: {len(todo) - finished} of {len(planned)} runs "
                              "remain; re-run the same command to resume\n")
        progress.stream.flush()
    return records


def _run_parallel(todo: list[tuple[int, PlannedRun]], jobs: int, progress: Progress, *, live: bool = False,
                  heartbeat_s: float = 2.0) -> list[dict]:
    """N worker processes, each with its own CPU threads (or its own GPU via CUDA_VISIBLE_DEVICES).

    With ``live`` the workers report their iterations through a queue (:class:`QueueReporter`) and the parent
    redraws one line every ``heartbeat_s`` seconds while it waits: ``k/N runs done, R running (iterations),
    elapsed, ETA``; the ETA counts the running runs' fractions done.

    SIGTERM/SIGINT: forwarded to the workers; each stops its run (recorded ``interrupted``) and skips the rest.
    """
    import multiprocessing as mp

    import torch

    n_gpu = torch.cuda.device_count()
    threads = max(1, (os.cpu_count() or 1) // jobs)
    ctx = mp.get_context("spawn")
    queue = ctx.Queue() if live else None
    records: list[dict] = []
    shown = 0                                                     # records of runs that actually ran
    running: dict[str, tuple[int, int, float | None]] = {}      # label -> (iteration, total, it/s)
    stream, t0 = progress.stream, time.perf_counter()
    work = [(r.options, progress.label(k, r), _annotations(r)) for k, r in todo]

    def drain() -> None:
        while queue is not None:
            try:
                label, it, total, rate = queue.get_nowait()
            except Exception:
                return
            running[label] = (it, total, rate)

    def heartbeat() -> None:
        drain()
        done = len(records)
        fractions = [it / total for it, total, _ in running.values() if total]
        progressed = done + sum(fractions)
        elapsed = time.perf_counter() - t0
        eta = elapsed / progressed * (len(todo) - progressed) if progressed > 0 else None
        its = ", ".join(f"{it}/{total}" for it, total, _ in running.values())
        busy = min(jobs, len(todo) - done)              # workers starting up have not reported yet
        stream.write(f"{CLEAR}{done}/{len(todo)} runs done, {busy} running"
                     f"{' (' + its + ' it)' if its else ''}, elapsed {format_duration(elapsed)}, "
                     f"ETA {format_duration(eta)}")
        stream.flush()

    with ctx.Pool(jobs, initializer=_worker_init, initargs=(n_gpu, threads, queue)) as pool:
        workers = [p.pid for p in getattr(pool, "_pool", [])]

        def forward(signum, frame):
            if not STATE.signum:
                STATE.signum = signum
            for pid in workers:
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)

        previous = signal.signal(signal.SIGTERM, forward), signal.signal(signal.SIGINT, forward)
        try:
            results = pool.imap_unordered(_worker_run_labelled, work)
            while len(records) < len(todo):
                if live and not STATE.signum:
                    heartbeat()
                    try:
                        label, rec = results.next(timeout=heartbeat_s)
                    except mp.TimeoutError:
                        continue
                    drain()
                    running.pop(label, None)
                    stream.write(CLEAR)
                else:
                    label, rec = results.next()
                records.append(rec)
                if rec.get("status") == "not started":      # skipped by a worker after a signal
                    continue
                shown += 1
                stream.write(f"[{shown}/{len(todo)}] {rec['variant']:15s} {rec['dataset']:10s} "
                             f"seed {rec['seed']} ... ")
                progress.finish(rec, len(todo) - shown)
            # let the workers exit on their own: Pool.__exit__ would terminate() them with SIGTERM, which a
            # worker records as an interruption (install_persistent) instead of dying, and the join would hang
            pool.close()
            pool.join()
        finally:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])
    return records


_WORKER_THREADS = 0


_WORKER_QUEUE = None


def _worker_init(n_gpu: int, threads: int, queue=None) -> None:
    import multiprocessing as mp

    global _WORKER_THREADS, _WORKER_QUEUE
    _WORKER_QUEUE = queue
    ident = mp.current_process()._identity
    idx = (ident[0] - 1) if ident else 0
    if n_gpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(idx % n_gpu)
    _WORKER_THREADS = threads
    install_persistent()                          # a signal stops this worker's run and skips its next ones


def _worker_run_labelled(work: tuple[dict, str]) -> tuple[str, dict]:
    """Run one sweep run in a worker: its record with its label; progress goes to the parent's queue."""
    options, label, annotations = work
    if STATE.signum:
        return label, {"status": "not started"}
    options = {**options, "progress": "off"}            # the parent draws the progress, not the workers
    if _WORKER_THREADS and not options.get("threads"):
        options["threads"] = _WORKER_THREADS
    reporters = [QueueReporter(_WORKER_QUEUE, label)] if _WORKER_QUEUE is not None else []
    return label, execute(options, callbacks=reporters, annotations=annotations)


def _annotations(run: PlannedRun) -> dict[str, Any]:
    """What a sweep adds to a run's record beyond its options (a search trial's index and draws)."""
    return {"trial": run.trial} if run.trial else {}


def wandb_sweep_config(spec: dict[str, Any], sweep_path: str, n_runs: int, quick: bool = False) -> dict[str, Any]:
    """The sweep as a W&B sweep configuration: a grid over the *index* of the planned runs.

    Each W&B agent call runs ``python -m benchmark sweep SWEEP.yaml --index K``, i.e. exactly the K-th run this
    file expands to, with every per-dataset and per-variant option (a plain W&B grid over variants × options
    cannot express those). Start it with ``wandb sweep <exported.yaml>`` and run ``wandb agent <sweep-id>`` on
    as many machines as you have; each run writes its own JSON and W&B run, and the report merges them.
    """
    command = ["${env}", "python", "-m", "benchmark", "sweep", str(sweep_path), "${args}"]
    if quick:
        command.insert(-1, "--quick")
    return {"name": spec.get("name", "ganbench"), "method": "grid", "program": "benchmark",
            "command": command, "parameters": {"index": {"values": list(range(n_runs))}}}


def check_wandb_sweep_config(cfg: dict[str, Any]) -> None:
    """Validate an exported configuration with W&B's own sweep schema (the ``sweeps`` package, offline).

    Raises:
        ConfigError: naming each schema violation.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                 # pydantic v1-style config warnings inside sweeps
        import sweeps

        problems = sweeps.schema_violations_from_proposed_config(cfg)
    if problems:
        raise ConfigError(f"W&B sweep configuration {cfg.get('name')!r} is invalid: {'; '.join(problems)}")
