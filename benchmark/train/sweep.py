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
    population: 4               # train runs differing only in seed (or a trial's optimiser numbers) as populations
                                # of up to 4 members (models/population.py); `auto`: per device; omit: one by one

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
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from datamodules import DATAMODULES
from models import VARIANTS, ConfigError

from ..io import FINISHED, RunLock, load_yaml_mapping, record_status, run_id
from .interrupt import SIGNALS, STATE, catch_signals, install_persistent
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
from .search import Search, parse_search

SWEEP_KEYS = {"name", "description", "seeds", "variants", "datasets", "options", "dataset_options",
              "variant_options", "grid", "quick", "search", "recipes", "override_recipes", "population"}
# a variant's optimiser recipe: a shared sweep level may not silently replace these where the variant sets them
RECIPE_FIELDS = ("optimizer", "lr_g", "lr_d", "beta1", "beta2", "n_critic")
DEFAULT_SWEEP = Path(__file__).parents[1] / "sweeps" / "default.yaml"
MAX_SWEEP_RUNS = 10_000          # the default sweep has 108; more is a typo or a job for several files


@dataclass(frozen=True)
class SweepSpec(Mapping):
    """A sweep: the file's mapping (``entries``, keys of :data:`SWEEP_KEYS`) and the directory it was read from
    (``base_dir``: where a relative ``recipes`` path is looked up; ``None``: the working directory).

    Read like the mapping (``spec["seeds"]``, ``spec.get("name")``); every function here also takes a plain
    mapping (a sweep without a file).
    """

    entries: dict[str, Any]
    base_dir: Path | None = None

    def __getitem__(self, key: str) -> Any:
        return self.entries[key]

    def __iter__(self):
        return iter(self.entries)

    def __len__(self) -> int:
        return len(self.entries)

    def replace(self, **entries: Any) -> "SweepSpec":
        """This sweep with ``entries`` set (same ``base_dir``)."""
        return SweepSpec({**self.entries, **entries}, self.base_dir)

    @classmethod
    def of(cls, spec: "SweepSpec | Mapping[str, Any]") -> "SweepSpec":
        return spec if isinstance(spec, SweepSpec) else cls(dict(spec))

    def recipes(self) -> dict[str, Any]:
        """The recipes file the sweep names (``recipes:``, relative to ``base_dir``), or ``{}``."""
        path = self.entries.get("recipes")
        return load_recipes(Path(self.base_dir or ".") / path) if path else {}


@dataclass
class PlannedRun:
    options: dict[str, Any]
    run_id: str
    path: Path
    trial: dict[str, Any] | None = None     # {"sweep", "index", "params"} for a search trial, else None


def expand(spec: SweepSpec | Mapping[str, Any], *, quick: bool = False,
           results_dir: str | None = None) -> list[dict[str, Any]]:
    """The flat option dicts of every run a sweep spec declares (validated by the caller)."""
    return [opts for opts, _ in expand_runs(spec, quick=quick, results_dir=results_dir)]


def expand_runs(spec: SweepSpec | Mapping[str, Any], *, quick: bool = False,
                results_dir: str | None = None) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """``(run options, search trial)`` of every run a sweep spec declares (validated by the caller); the trial
    is ``{"sweep", "index", "params"}`` for a run of a search, else ``None`` (not a run option)."""
    sweep = SweepSpec.of(spec)
    spec = dict(sweep.entries)
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
    spec = with_all_expanded(spec)
    registries = {"variants": VARIANTS, "datasets": DATAMODULES}
    for key in ("seeds", "variants", "datasets"):
        if not isinstance(spec.get(key), list) or not spec[key]:
            raise ConfigError(f"sweep key {key!r} must be a non-empty list"
                              + (" or 'all'" if key in registries else ""))
    for key, registry in registries.items():
        bad = next((n for n in spec[key] if not isinstance(n, str) or n not in registry), None)
        if bad is not None:
            raise ConfigError(f"sweep {key}: unknown {key[:-1]} {str(bad)[:60]!r}; choose one of: "
                              f"{', '.join(sorted(registry))}")
    grid = spec.get("grid") or {}
    if not isinstance(grid, dict):
        raise ConfigError("sweep key 'grid' must be a mapping of option: [values]")
    for k, v in grid.items():
        if not isinstance(k, str):
            raise ConfigError(f"grid key {str(k)[:60]!r} must be an option name")
        if not isinstance(v, list) or not v:
            raise ConfigError(f"grid entry {k!r} must be a non-empty list of values")
    for key in ("options", "dataset_options", "variant_options"):
        if spec.get(key) is not None and not isinstance(spec[key], dict):
            raise ConfigError(f"sweep key {key!r} must be a mapping")
    search = parse_search(spec["search"], spec["variants"]) if spec.get("search") is not None else None
    count = len(spec["datasets"]) * len(spec["variants"]) * len(spec["seeds"]) * (search.trials if search else 1)
    for v in grid.values():
        count *= len(v)
    if count > MAX_SWEEP_RUNS:                    # counted, not materialised: a 10^7 grid fails in a second
        raise ConfigError(f"this sweep declares {count:,} runs, over the limit of {MAX_SWEEP_RUNS:,}; split it "
                          "into several sweep files or shrink the grid, seeds or search.trials")
    engine = {"engine": "population"} if population_size(spec) is not None else {}
    recipes = sweep.recipes()
    runs = []
    names = list(grid)
    for data in spec["datasets"]:
        for variant in spec["variants"]:
            cell = cell_options(spec, recipes, variant, data)
            trials = range(search.trials) if search else [None]
            for trial, values in itertools.product(trials, itertools.product(*[grid[n] for n in names])):
                drawn = search.params(variant, trial) if search else {}
                for seed in spec["seeds"]:
                    opts = {**cell, **dict(zip(names, values)), **drawn, **quick_options, **engine,
                            "variant": variant, "data": data, "seed": seed}
                    if spec.get("name"):
                        opts.setdefault("group", spec["name"])
                    if results_dir is not None:
                        opts["results_dir"] = results_dir
                    found = None
                    if search:
                        found = {"sweep": spec.get("name") or "", "index": trial,
                                 "params": {d.name: opts[d.name] for d in search.space(variant) if d.name in opts}}
                    runs.append((opts, found))
    return runs


def population_size(spec: dict[str, Any]) -> int | str | None:
    """The sweep's ``population`` (a size >= 1 or ``"auto"``), or ``None`` for one run at a time."""
    value = spec.get("population")
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.strip().lower() == "auto":
        return "auto"
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        try:
            value = int(str(value), 10)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"population={spec.get('population')!r} must be a whole number >= 1 or 'auto' "
                              "(sweep key `population` or --population)")
    return value


def population_key(options: dict[str, Any]) -> str:
    """Runs with equal keys may be one population: the same options except seed and optimiser numbers."""
    import json

    from models.population import MEMBER_OPTIONS

    rest = {k: v for k, v in options.items() if k not in ("seed", *MEMBER_OPTIONS)}
    return json.dumps(rest, sort_keys=True, default=str)


def group_populations(todo: list[tuple[int, PlannedRun]], size: int | str) -> list[list[tuple[int, PlannedRun]]]:
    """``todo`` in populations of at most ``size`` members (``auto``: per device, see
    :func:`models.population.population_size_for`), each of runs that differ only in seed or optimiser numbers;
    the sweep's order is kept within and across groups."""
    import torch

    from models.population import population_size_for

    by_key: dict[str, list[tuple[int, PlannedRun]]] = {}
    for item in todo:
        by_key.setdefault(population_key(item[1].options), []).append(item)
    groups = []
    for items in by_key.values():
        n = size if isinstance(size, int) else population_size_for("cuda" if torch.cuda.is_available() else "cpu",
                                                                     len(items))
        chunks = -(-len(items) // n)
        per = -(-len(items) // chunks)                   # balanced: 10 runs at size 8 are 5 + 5, not 8 + 2
        groups += [items[i:i + per] for i in range(0, len(items), per)]
    return sorted(groups, key=lambda g: g[0][0])


def cell_options(spec: dict[str, Any], recipes: dict[str, Any], variant: str, data: str) -> dict[str, Any]:
    """The options every run of one (variant, dataset) cell shares, lowest precedence first: the top level (keys
    that are no sweep key) and ``options``, ``dataset_options``, ``variant_options``, the recipe. A shared level
    that would replace the variant's optimiser recipe is refused here (:func:`_guard_recipe`), for local sweeps
    and W&B exports alike."""
    top_level = {k: v for k, v in spec.items() if k not in SWEEP_KEYS and not str(k).startswith("_")}
    shared = {**top_level, **(spec.get("options") or {}), **((spec.get("dataset_options") or {}).get(data) or {})}
    recipe = recipe_options(recipes, variant, data)
    _guard_recipe(variant, data, shared, recipe, allow=bool(spec.get("override_recipes")))
    return {**shared, **((spec.get("variant_options") or {}).get(variant) or {}), **recipe}


def with_all_expanded(spec: SweepSpec | Mapping[str, Any]) -> Any:
    """``variants: all`` / ``datasets: all`` -> every registered name, sorted (a copy of the same type; other
    keys untouched)."""
    registries = {"variants": VARIANTS, "datasets": DATAMODULES}
    expanded = {k: sorted(reg) for k, reg in registries.items() if spec.get(k) == "all"}
    return spec.replace(**expanded) if isinstance(spec, SweepSpec) else {**spec, **expanded}


def check_spec(spec: SweepSpec | Mapping[str, Any]) -> None:
    """Reject what :func:`expand` would silently accept (``ConfigError`` naming the fix).

    - a name under ``variant_options`` / ``dataset_options`` that is no registered variant / dataset;
    - an option key there that no run of the sweep accepts (``variant_options.wgan.n_critc``): checked even
      for a name the sweep does not run (e.g. a variant only ``quick`` drops), which ``resolve`` never sees;
    - a seed, variant, dataset or grid value listed twice (at the top level or under ``quick``): it would
      train the same run twice. Refused rather than de-duplicated: a repeated entry is most often a typo for
      another value (``seeds: [0, 1, 1]`` meant ``[0, 1, 2]``), which only the user can fix.
    """
    from models.config import field_types

    from .options import RunOptions, data_schema

    levels = [("", spec)] + ([("quick.", spec["quick"])] if isinstance(spec.get("quick"), dict) else [])
    for where, level in levels:
        for key in ("seeds", "variants", "datasets"):
            _no_repeats(level.get(key), f"{where}{key}")
        if isinstance(level.get("grid"), dict):
            for k, v in level["grid"].items():
                _no_repeats(v, f"{where}grid.{k}")

    def listed(key: str, registry: dict) -> list[str]:
        names = spec.get(key)
        return sorted(registry) if names == "all" or not isinstance(names, list) else \
            [n for n in names if isinstance(n, str) and n in registry] or sorted(registry)

    variants, datasets = listed("variants", VARIANTS), listed("datasets", DATAMODULES)
    run_keys = set(field_types(RunOptions))
    variant_keys = {v: set(field_types(VARIANTS[v].Config)) for v in VARIANTS}
    data_keys = {d: set(data_schema(DATAMODULES[d])) for d in DATAMODULES}
    for key, registry, kind in (("variant_options", VARIANTS, "variant"), ("dataset_options", DATAMODULES, "dataset")):
        per_name = spec.get(key)
        if not isinstance(per_name, dict):
            continue                                              # expand() says what it must be
        for name, opts in per_name.items():
            if name not in registry:
                raise ConfigError(f"sweep {key}: unknown {kind} {name!r}; choose one of: "
                                  f"{', '.join(sorted(registry))}")
            if opts is None:
                continue
            if not isinstance(opts, dict):
                raise ConfigError(f"sweep {key}.{name} must be a mapping of option: value")
            if kind == "variant":
                valid = run_keys | variant_keys[name] | set().union(*(data_keys[d] for d in datasets))
            else:
                valid = run_keys | data_keys[name] | set().union(*(variant_keys[v] for v in variants))
            for option in opts:
                if str(option).replace("-", "_") not in valid:
                    raise ConfigError(f"sweep {key}.{name}: option {option!r} is accepted by no run of this sweep; "
                                      f"valid options: {', '.join(sorted(valid))}")


def _no_repeats(values: Any, where: str) -> None:
    if not isinstance(values, list):
        return
    seen: set[Any] = set()                     # hashable values in a set: a long list is checked in linear time
    unhashable: list[Any] = []
    for v in values:
        try:
            repeated = v in seen
            seen.add(v)
        except TypeError:
            repeated = v in unhashable
            unhashable.append(v)
        if repeated:
            raise ConfigError(f"sweep key {where!r} lists {_short_repr(v)} twice, which would train the same runs "
                              "twice; list each value once")


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


def load_sweep(path: str | os.PathLike) -> SweepSpec:
    """The sweep file at ``path`` (its ``name`` defaults to the file's stem)."""
    spec = load_yaml_mapping(path, "sweep")
    spec.setdefault("name", Path(path).stem)
    return SweepSpec(spec, Path(path).parent)


def plan(spec: SweepSpec | Mapping[str, Any], *, quick: bool = False,
         results_dir: str | None = None) -> list[PlannedRun]:
    """Expand and validate every run; raises ``ConfigError`` naming the first bad run, or two entries that are
    the same run (``lr_g: [1e-4, 0.0001]``; search trials that draw the same values are left to the locks:
    the second finds the run done and skips it)."""
    check_spec(spec)
    out: list[PlannedRun] = []
    by_id: dict[str, dict[str, Any]] = {}
    for opts, trial in expand_runs(spec, quick=quick, results_dir=results_dir):
        at = f"trial {trial['index']}/" if trial else ""
        where = f"sweep run {opts['variant']}/{opts['data']}/{at}seed {opts['seed']}"
        try:
            resolved = resolve(opts)
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
        rid = run_id(resolved.config())
        if rid in by_id and trial is None:
            raise ConfigError(f"{where}: two entries of this sweep are the same run {rid} (equal values such as "
                              "1e-4 and 0.0001 in a list or the grid); list each value once")
        by_id[rid] = opts
        out.append(PlannedRun(opts, rid, Path(resolved.run.results_dir) / "runs" / f"{rid}.json", trial))
    return out


def is_done(path: Path) -> bool:
    """A run is done when its JSON exists and says completed or diverged (failed and interrupted runs are
    retried, resuming from their checkpoint; a file that is not a run record is not done)."""
    return record_status(path) in FINISHED


SKIPPED = "skipped"          # status of a planned run this process did not train (see run_locked)


def run_locked(run: PlannedRun, callbacks: list | None = None) -> dict:
    """Train ``run`` under its :class:`~benchmark.io.RunLock`; the record, or a ``skipped`` stand-in (with
    ``reason``) when another process holds the lock or has finished the run since this sweep was planned.

    Two sweeps on one results directory thereby split the work: each trains the runs it locks first.
    """
    lock = RunLock(run.path.parent, run.run_id)
    if not lock.acquire():
        return _skipped(run, f"running in another process (pid {lock.holder()})")
    try:
        if is_done(run.path):                       # finished by another sweep after this one was planned
            return _skipped(run, "done by another process")
        return execute({**run.options, "progress": "off"}, callbacks=callbacks, annotations=_annotations(run))
    finally:
        lock.release()


def run_population_locked(runs: list[PlannedRun], callbacks: list | None = None) -> list[dict]:
    """Train ``runs`` as one population under their locks (:func:`run_locked` for each member): the members
    another process holds or has finished are skipped (a ``skipped`` stand-in), the others train together."""
    from .run import execute_population

    locks, out, mine = [], {}, []
    try:
        for r in runs:
            lock = RunLock(r.path.parent, r.run_id)
            if not lock.acquire():
                out[r.run_id] = _skipped(r, f"running in another process (pid {lock.holder()})")
                continue
            locks.append(lock)
            if is_done(r.path):
                out[r.run_id] = _skipped(r, "done by another process")
                continue
            mine.append(r)
        if mine:
            records = execute_population([{**r.options, "progress": "off"} for r in mine], callbacks=callbacks,
                                         annotations=[_annotations(r) for r in mine])
            out.update({r.run_id: rec for r, rec in zip(mine, records)})
    finally:
        for lock in locks:
            lock.release()
    return [out[r.run_id] for r in runs]


def _skipped(run: PlannedRun, reason: str) -> dict:
    o = run.options
    return {"status": SKIPPED, "reason": reason, "run_id": run.run_id, "path": str(run.path),
            "variant": o["variant"], "dataset": o["data"], "seed": o["seed"]}


ETA_WINDOW = 9       # recent runs whose median duration estimates the rest


def eta_from_durations(durations: list[float], remaining: int, jobs: int = 1) -> float | None:
    """Seconds left for ``remaining`` runs: the median duration of the last :data:`ETA_WINDOW` runs each, ``jobs``
    at a time. A median, not the mean since the start, so the first run's warm-up (imports, a classifier fitted
    once) or one slow run does not swing it; ``None`` before any run has finished."""
    recent = sorted(durations[-ETA_WINDOW:])
    if not recent:
        return None
    return recent[len(recent) // 2] * remaining / max(1, jobs)


class Progress:
    """``[k/n] variant data seed … it/s, ETA`` lines; cheap (one line per run plus one per ~10 s)."""

    def __init__(self, total: int, stream=None) -> None:
        stream = stream or sys.stdout
        self.total, self.stream, self.t0, self.done, self.train_s = total, stream, time.perf_counter(), 0, 0.0
        self.durations: list[float] = []      # wall time of each finished run
        self.jobs = 1                          # runs at once (the ETA divides by it)

    def label(self, k: int, run: PlannedRun) -> str:
        o = run.options
        return f"[{k}/{self.total}] {o['variant']:15s} {o['data']:10s} seed {o['seed']} ..."

    def start(self, k: int, run: PlannedRun) -> None:
        self.stream.write(self.label(k, run) + " ")
        self.stream.flush()

    def finish(self, record: dict, remaining: int) -> None:
        self.done += 1
        self.durations.append(float(record.get("wall_time_s") or 0.0))
        eta = eta_from_durations(self.durations, remaining, self.jobs)
        ips = record.get("iterations_per_s")
        ips_s = f"{ips:7.0f} it/s" if ips else "        -"
        self.stream.write(f"{record['status']:9s} {record['wall_time_s']:6.1f} s {ips_s}   "
                          f"ETA {format_duration(eta):>7s}\n")
        self.stream.flush()

    def skip(self, k: int, run: PlannedRun, reason: str = "done already") -> None:
        o = run.options
        self.stream.write(f"[{k}/{self.total}] {o['variant']:15s} {o['data']:10s} seed {o['seed']} ... "
                          f"{reason} (skipped)\n")
        self.stream.flush()


def run_sweep(spec: SweepSpec | Mapping[str, Any], *, quick: bool = False, results_dir: str | None = None,
              jobs: int = 1, stream=None, progress: str = "auto") -> list[dict]:
    """Run every planned run not already done; returns the records of the runs executed now.

    ``progress`` (``auto``/``on``/``off``, see :mod:`benchmark.train.progress`): a live line per run, or with
    ``jobs > 1`` a sweep line (runs done, running, the running runs' iterations, elapsed, ETA) redrawn while
    the workers train; ``auto`` shows it when ``stream`` is a TTY and ``$CI`` is not set.
    """
    stream = stream or sys.stdout                 # the current stdout, not the one at import time
    live = progress_enabled(progress, stream)
    stream = SafeStream(stream)                    # a reader gone (`| tee` after Ctrl-C) never stops the sweep
    planned = plan(spec, quick=quick, results_dir=results_dir)
    rungs = halving_rungs(spec, planned)
    if rungs is None:
        return _run_planned(spec, planned, results_dir=results_dir, jobs=jobs, stream=stream, live=live)
    first, rest, keep = rungs
    stream.write(f"successive halving: every trial on seed {first[0].options['seed']} ({len(first)} runs), then "
                 f"the best {keep} of each (variant, dataset) on the other seeds\n")
    records = _run_planned(spec, first, results_dir=results_dir, jobs=jobs, stream=stream, live=live)
    if STATE.signum:
        return records
    second = rest(results_dir)
    stream.write(f"successive halving: {len(second)} runs of the kept trials\n")
    return records + _run_planned(spec, second, results_dir=results_dir, jobs=jobs, stream=stream, live=live)


def halving_rungs(spec: SweepSpec | Mapping[str, Any], planned: list[PlannedRun]):
    """``None``, or for a search with ``keep`` and several seeds: (the first seed's runs, a function of the results
    directory giving the kept trials' runs on the other seeds, keep). The cut is recomputed from the records, so a
    re-run after an interruption keeps the same trials."""
    spec = with_all_expanded(spec)
    if not spec.get("search") or len(spec["seeds"]) < 2:
        return None
    search = parse_search(spec["search"], list(spec["variants"]))
    if search.keep is None or search.keep >= search.trials:
        return None
    first_seed = spec["seeds"][0]
    first = [r for r in planned if r.options["seed"] == first_seed]

    def rest(results_dir: str | None) -> list[PlannedRun]:
        from ..io import load_runs
        from .search import shortlist

        first_records = [rec for rec in load_runs(results_dir or "results") if rec.get("seed") == first_seed]
        kept = shortlist(first_records, spec.get("name") or "", list(spec["datasets"]), search.keep)
        return [r for r in planned if r.options["seed"] != first_seed
                and r.trial["index"] in kept.get((r.options["variant"], r.options["data"]), ())]

    return first, rest, search.keep


def _run_planned(spec: SweepSpec | Mapping[str, Any], planned: list[PlannedRun], *, results_dir: str | None,
                 jobs: int, stream, live: bool) -> list[dict]:
    """Run the planned runs that are not done yet (alone, as populations, or on ``jobs`` workers)."""
    todo = [(k, r) for k, r in enumerate(planned, 1) if not is_done(r.path)]
    progress = Progress(len(planned), stream)
    for k, r in enumerate(planned, 1):
        if is_done(r.path):
            progress.skip(k, r)
    skipped: list[dict] = []                       # runs left to another process (locked or done there)
    size = population_size(spec)
    work: list[Any] = group_populations(todo, size) if size is not None else todo
    with catch_signals():
        if jobs > 1 and len(work) > 1:
            records = _run_parallel(work, jobs, progress, live=live, skipped=skipped)
        else:
            records = []
            left = len(todo)
            for item in work:
                if STATE.signum:
                    break
                group = item if isinstance(item, list) else [item]
                k, r = group[0]
                progress.start(k, r)
                if len(group) > 1 or size is not None:
                    stream.write(f"population of {len(group)} (seeds {', '.join(str(g[1].options['seed']) for g in group)})\n")
                    recs = run_population_locked([g[1] for g in group])
                else:
                    display = [ProgressDisplay(progress.label(k, r), stream)] if live else []
                    recs = [run_locked(r, callbacks=display)]
                for rec in recs:
                    left -= 1
                    if rec["status"] == SKIPPED:
                        stream.write(f"{rec['reason']} (skipped)\n")
                        stream.flush()
                        skipped.append(rec)
                        continue
                    records.append(rec)
                    if len(group) > 1 or size is not None:
                        stream.write(f"    seed {rec['seed']} ... ")
                    progress.finish(rec, left)
    if skipped:
        progress.stream.write(f"{len(skipped)} run(s) left to other processes on {results_dir or 'results'} "
                              "(running or done there); re-run this sweep once they end to pick up any they did "
                              "not finish\n")
        progress.stream.flush()
    if STATE.signum:
        finished = sum(rec.get("status") in FINISHED for rec in records) + sum(is_done(Path(r["path"]))
                                                                              for r in skipped)
        progress.stream.write(f"sweep interrupted by {STATE.name}: {len(todo) - finished} of {len(planned)} runs "
                              "remain; re-run the same command to resume\n")
        progress.stream.flush()
    return records


STOP_GRACE_S = 60.0     # after a signal, how long workers may take to checkpoint and record; then SIGKILL
JOIN_S = 10.0           # how long a worker may take to exit once it has nothing left to do


class SafeStream:
    """A text stream whose writes cannot fail: after the first ``OSError`` (the reader of a pipe is gone, e.g.
    ``| tee log`` stopped by the same Ctrl-C, or a closed terminal) output is dropped and the sweep goes on
    stopping cleanly instead of dying on a progress line. Other attributes are the wrapped stream's."""

    def __init__(self, stream) -> None:
        self._stream, self.lost = stream, False

    def write(self, text: str) -> int:
        if not self.lost:
            try:
                return self._stream.write(text)
            except (OSError, ValueError):       # EPIPE, EIO; ValueError: write to a closed file
                self._lose()
        return len(text)

    def flush(self) -> None:
        if not self.lost:
            try:
                self._stream.flush()
            except (OSError, ValueError):
                self._lose()

    def _lose(self) -> None:
        """Drop output from now on; a lost standard stream is pointed at ``os.devnull`` so that Python's own
        flush at exit does not fail on it either."""
        self.lost = True
        with contextlib.suppress(OSError, ValueError, AttributeError):
            fd = self._stream.fileno()
            if fd in (1, 2):
                null = os.open(os.devnull, os.O_WRONLY)
                os.dup2(null, fd)
                os.close(null)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _run_parallel(items: list, jobs: int, progress: Progress, *, live: bool = False,
                  heartbeat_s: float = 2.0, skipped: list[dict] | None = None) -> list[dict]:
    """N worker processes, each with its own CPU threads (or its own GPU via CUDA_VISIBLE_DEVICES).

    With ``live`` the workers report their iterations through a queue (:class:`QueueReporter`) and the parent
    redraws one line every ``heartbeat_s`` seconds while it waits: ``k/N runs done, R running (iterations),
    elapsed, ETA``; the ETA is the running runs' own rates for what they have left plus the median finished run
    for each run not started, over the workers (:func:`eta_from_durations`). Runs another process holds (see
    :func:`run_locked`) go to ``skipped``.

    The workers are plain processes pulling runs from a queue, not a ``multiprocessing.Pool``: nothing respawns
    a worker that died, and the parent never blocks on one without a bound (a Pool respawned workers killed by a
    Ctrl-C, which then trained every remaining run, and hung in ``Pool.__exit__`` joining workers that had caught
    its SIGTERM). Workers start with SIGINT and SIGHUP ignored (inherited through spawn's exec; Python then
    installs no KeyboardInterrupt handler) until :func:`_worker_init` installs the sweep's handlers, so a Ctrl-C
    while they import torch prints no traceback; a shared event tells a worker set up later to start nothing.

    SIGTERM/SIGINT/SIGHUP: the event is set and the signal forwarded to the workers that are set up; each stops
    its run (recorded ``interrupted``, with a checkpoint when checkpointing is on) and takes no other. The
    parent waits at most :data:`STOP_GRACE_S` for them (a second signal: not at all), then kills the rest. Any
    other way out of the parent (an exception, e.g. a run's ``UsageError``) stops the workers the same way
    before it propagates. A parent that dies (SIGKILL, a crash) takes its workers with it: each gets SIGTERM
    from the kernel (:func:`stop_with_parent`) and stops its run the same way, so no worker trains on as an
    orphan.
    """
    pool = _WorkerPool(items, jobs, progress, live=live, skipped=skipped)
    pool.start()
    try:
        pool.wait(heartbeat_s)
    except BaseException as e:                          # stop the workers before it propagates
        pool.error = e
    finally:
        pool.shut_down()
    if pool.error is not None:
        raise pool.error
    return pool.records


class _WorkerPool:
    """The parent side of :func:`_run_parallel`: the worker processes and their queues (:meth:`start`,
    :meth:`shut_down`), the signals (:meth:`forward`, :meth:`stop_workers`), the workers' messages
    (:meth:`handle`) and the lines printed (:meth:`print_heartbeat`, :meth:`print_result`)."""

    def __init__(self, items: list, jobs: int, progress: Progress, *, live: bool, skipped: list[dict] | None) -> None:
        import multiprocessing as mp

        import torch

        # an item is one run (k, PlannedRun) or a population: a list of them, trained by one worker
        self.todo = [run for item in items for run in (item if isinstance(item, list) else [item])]
        self.jobs, self.progress, self.live, self.skipped = jobs, progress, live, skipped
        self.n_gpu = torch.cuda.device_count()
        self.threads = max(1, (os.cpu_count() or 1) // jobs)
        self.ctx = mp.get_context("spawn")
        self.queue = self.ctx.Queue() if live else None                # iteration reports (live progress)
        self.tasks, self.results, self.stop = self.ctx.Queue(), self.ctx.Queue(), self.ctx.Event()
        self.records: list[dict] = []
        self.received = 0                                             # run records back from the workers
        self.items_back = 0                                           # work items (runs or populations) back
        self.shown = 0                                                # records of runs that actually ran
        self.running: dict[str, tuple[int, int, float | None]] = {}  # label -> (iteration, total, it/s)
        self.stream, self.t0 = progress.stream, time.perf_counter()
        progress.jobs = jobs
        self.work = [([r for _, r in item], progress.label(*item[0])) if isinstance(item, list) else
                     (item[1], progress.label(*item)) for item in items]
        self.n_workers = min(jobs, len(self.work))
        self.ready: dict[int, int] = {}                               # worker index -> pid, once set up
        self.current: dict[int, str] = {}                             # worker index -> label of its run
        self.signalled: list[float] = []                              # when each signal reached the parent
        self.procs: list = []
        self.handlers: dict = {}
        self.error: BaseException | None = None

    # ------------------------------------------------------------------------------------ processes
    def start(self) -> None:
        """Queue the work (one "no more work" per worker), start the workers with the terminal signals ignored
        until they are set up, then forward this process's signals to them."""
        for item in self.work:
            self.tasks.put(item)
        for _ in range(self.n_workers):
            self.tasks.put(None)
        self.handlers = {s: signal.getsignal(s) for s in SIGNALS}
        with _ignoring(TERMINAL_SIGNALS):                 # inherited by the workers until they are set up
            for idx in range(self.n_workers):
                self.procs.append(self.ctx.Process(
                    target=_worker_main, name=f"ganbench-worker-{idx}", daemon=False,
                    args=(idx, self.n_gpu, self.threads, self.tasks, self.results, self.queue, os.getpid(),
                          self.stop)))
                self.procs[-1].start()
        for s in SIGNALS:
            signal.signal(s, self.forward)

    def shut_down(self) -> None:
        """Let finished workers exit, stop any still alive (after the grace a signal left them), release the
        queues and give back the signal handlers."""
        if self.error is None and not STATE.signum:       # all done: the workers are on their way out
            for p in self.procs:
                p.join(JOIN_S)
        if any(p.is_alive() for p in self.procs):
            signalled = self.signalled
            left = STOP_GRACE_S - (time.monotonic() - signalled[0]) if signalled else STOP_GRACE_S
            quick = len(signalled) > 1 or (self.error is not None and not isinstance(self.error, Exception))
            self.stop_workers(STATE.signum or signal.SIGTERM, 0.0 if quick else max(0.0, left))
        for q in (self.tasks, self.results, self.queue):
            if q is not None:
                q.cancel_join_thread()                    # never block the exit on a pipe nobody reads
        for s, h in self.handlers.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)

    # -------------------------------------------------------------------------------------- signals
    def send(self, signum: int) -> None:
        for idx, pid in self.ready.items():
            if self.procs[idx].is_alive():
                with contextlib.suppress(OSError):
                    os.kill(pid, signum)

    def forward(self, signum, frame) -> None:       # async-signal context: no locks (the loop sets ``stop``)
        if not STATE.signum:
            STATE.signum = signum
        self.signalled.append(time.monotonic())
        self.send(signum)

    def stop_workers(self, signum: int, grace: float) -> None:
        """Tell every worker to stop (event + ``signum`` to those set up), wait ``grace`` s, kill the rest."""
        self.stop.set()
        self.send(signum)
        deadline = time.monotonic() + grace
        for p in self.procs:
            p.join(max(0.0, deadline - time.monotonic()))
        late = [p for p in self.procs if p.is_alive()]
        for p in late:
            p.kill()
            p.join(JOIN_S)
        if late:
            self.stream.write(f"{CLEAR}killed {len(late)} worker(s) that had not stopped {grace:g} s after being "
                              "told to; their runs resume from their last checkpoint\n")
            self.stream.flush()

    def stop_starting(self) -> None:
        """After a signal: a worker still starting up (importing torch: seconds to a minute) holds no run;
        kill it now instead of waiting for it to find out (its messages so far are read first)."""
        import queue as queue_mod

        with contextlib.suppress(queue_mod.Empty):
            while True:
                self.handle(self.results.get_nowait())
        for idx, p in enumerate(self.procs):
            if idx not in self.ready and idx not in self.current and p.is_alive():
                p.kill()

    # ------------------------------------------------------------------------------------- messages
    def wait(self, heartbeat_s: float) -> None:
        """Handle the workers' messages until every work item is back, an error, the second signal or the end of
        the grace after the first, or every worker dead; redraw the live line while waiting."""
        import queue as queue_mod

        while self.items_back < len(self.work) and self.error is None:
            signalled = self.signalled
            if signalled and (len(signalled) > 1 or time.monotonic() - signalled[0] > STOP_GRACE_S):
                break                                         # second signal, or the grace is over
            if STATE.signum:
                if not signalled:                             # caught before ``forward`` was installed
                    signalled.append(time.monotonic())
                self.stop.set()
                self.stop_starting()
            try:
                msg = self.results.get(timeout=heartbeat_s if self.live and not STATE.signum else 0.5)
            except queue_mod.Empty:
                if self.live and not STATE.signum:
                    self.print_heartbeat()
                if not any(p.is_alive() for p in self.procs) and self.results.empty():
                    self.print_lost()
                    break
                continue
            self.handle(msg)

    def handle(self, msg) -> None:
        """One message of a worker: ``ready`` (its pid), ``start`` (a run's label), ``error`` or ``result``."""
        kind, idx = msg[0], msg[1]
        if kind == "ready":
            self.ready[idx] = msg[2]
            if STATE.signum:                              # set up after the signal was forwarded
                with contextlib.suppress(OSError):
                    os.kill(msg[2], STATE.signum)
            return
        if kind == "start":
            self.current[idx] = msg[2]
            return
        self.current.pop(idx, None)
        if kind == "error":
            self.error = msg[3]
            return
        self.take_result(msg[2], msg[3])

    def take_result(self, label: str, recs: dict | list[dict]) -> None:
        """The record(s) of one work item (a population's: one per member), kept and printed."""
        if self.live:
            self.drain()
            self.running.pop(label, None)
            self.stream.write(CLEAR)
        self.items_back += 1
        for rec in (recs if isinstance(recs, list) else [recs]):
            self.received += 1
            if not _show(rec, label, self.stream, self.skipped):
                continue
            self.records.append(rec)
            self.shown += 1
            self.print_result(rec)

    def drain(self) -> None:
        """Read the running runs' iteration reports (live progress)."""
        while self.queue is not None:
            try:
                label, it, total, rate = self.queue.get_nowait()
            except Exception:
                return
            self.running[label] = (it, total, rate)

    # ------------------------------------------------------------------------------------- printing
    def print_result(self, rec: dict) -> None:
        todo = self.todo
        self.stream.write(f"[{self.shown}/{len(todo)}] {rec['variant']:15s} {rec['dataset']:10s} "
                          f"seed {rec['seed']} ... ")
        self.progress.finish(rec, len(todo) - self.received)

    def print_heartbeat(self) -> None:
        """``k/N runs done, R running (iterations), elapsed, ETA`` (see :func:`_run_parallel`)."""
        self.drain()
        running, jobs, todo = self.running, self.jobs, self.todo
        done = self.received
        elapsed = time.perf_counter() - self.t0
        # the running runs' own rates for what they have left, the median finished run (else the running runs'
        # projected length) for each run not started, over the workers: no absurd value from the start-up
        left = [(total - it) / rate for it, total, rate in running.values() if total and rate]
        whole = self.progress.durations[-ETA_WINDOW:] or [total / rate for it, total, rate in running.values()
                                                          if total and rate]
        queued = max(0, len(todo) - done - len(running))
        rest = eta_from_durations(whole, queued) if queued else 0.0
        eta = ((sum(left) + rest) / max(1, min(jobs, len(todo) - done))
               if rest is not None and (left or not running) else None)
        its = ", ".join(f"{it}/{total}" for it, total, _ in running.values())
        busy = min(jobs, len(todo) - done)              # workers starting up have not reported yet
        self.stream.write(f"{CLEAR}{done}/{len(todo)} runs done, {busy} running"
                          f"{' (' + its + ' it)' if its else ''}, elapsed {format_duration(elapsed)}, "
                          f"ETA {format_duration(eta)}")
        self.stream.flush()

    def print_lost(self) -> None:
        for idx, label in self.current.items():           # died with a run in hand (SIGKILL, OOM)
            self.stream.write(f"{CLEAR}{label} lost: its worker died (exit {self.procs[idx].exitcode}); "
                              "re-run the sweep to resume it\n")


TERMINAL_SIGNALS = tuple(getattr(signal, n) for n in ("SIGINT", "SIGHUP") if hasattr(signal, n))


@contextlib.contextmanager
def _ignoring(signals: tuple[int, ...]):
    """Ignore ``signals`` in this process for the block (processes spawned in it start with them ignored)."""
    previous = {s: signal.signal(s, signal.SIG_IGN) for s in signals}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


_WORKER_THREADS = 0


_WORKER_QUEUE = None
_WORKER_STOP = None

PR_SET_PDEATHSIG = 1                                  # <linux/prctl.h>


def _worker_init(n_gpu: int, threads: int, queue=None, parent_pid: int | None = None, idx: int = 0,
                 stop=None) -> None:
    global _WORKER_THREADS, _WORKER_QUEUE, _WORKER_STOP
    _WORKER_QUEUE, _WORKER_STOP = queue, stop
    if n_gpu:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(idx % n_gpu)
    _WORKER_THREADS = threads
    install_persistent()                          # a signal stops this worker's run and skips its next ones
    if parent_pid is not None:
        stop_with_parent(parent_pid)


def _worker_main(idx: int, n_gpu: int, threads: int, tasks, results, queue, parent_pid: int, stop) -> None:
    """A sweep worker: set up, say so, then run the queued runs until ``None`` or a stop (signal or event),
    sending ``("start", idx, label)`` and ``("result", idx, label, record)`` (``("error", idx, label, exc)`` for
    an exception, e.g. a run's ``UsageError``) to ``results``."""
    _worker_init(n_gpu, threads, queue, parent_pid, idx, stop)
    sys.stdout, sys.stderr = SafeStream(sys.stdout), SafeStream(sys.stderr)   # a gone `| tee` fails no run
    results.put(("ready", idx, os.getpid()))
    while not (STATE.signum or stop.is_set()):
        item = tasks.get()
        if item is None:
            break
        results.put(("start", idx, item[1]))
        try:
            label, rec = _worker_run_labelled(item)
        except Exception as e:
            results.put(("error", idx, item[1], e))
            break
        results.put(("result", idx, label, rec))


def stop_with_parent(parent_pid: int, poll_s: float = 1.0) -> str:
    """Send this process SIGTERM when ``parent_pid`` (its parent) dies; returns how (``prctl`` or ``poll``).

    Linux: ``prctl(PR_SET_PDEATHSIG, SIGTERM)``, delivered by the kernel even when the parent is SIGKILLed
    (it fires when the parent's creating thread ends: the pool's main thread here, which lives as long as
    the parent). Elsewhere, or when prctl fails: a daemon thread polls the parent pid every ``poll_s``.
    Either way the SIGTERM goes to :func:`install_persistent`'s handler: the run stops at its next batch,
    checkpoints and is recorded ``interrupted``. A parent already gone before this was set up is caught by
    the ``getppid`` check.
    """
    how = "poll"
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) == 0:
                how = "prctl"
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:                # the parent died before the death signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
    if how == "poll":
        import threading

        def watch() -> None:
            while os.getppid() == parent_pid:
                time.sleep(poll_s)
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=watch, name="ganbench-parent-watch", daemon=True).start()
    return how


def _show(rec: dict, label: str, stream, skipped: list | None) -> bool:
    """Whether a worker's record is one to count and show (not a run skipped after a signal or elsewhere)."""
    if rec.get("status") == "not started":
        return False
    if rec.get("status") == SKIPPED:
        stream.write(f"{label} {rec['reason']} (skipped)\n")
        stream.flush()
        if skipped is not None:
            skipped.append(rec)
        return False
    return True


def _worker_run_labelled(work: tuple[PlannedRun | list[PlannedRun], str]) -> tuple[str, dict | list[dict]]:
    """Run one sweep run (or a population: a list of runs) in a worker, under its lock(s): its record(s) with
    its label; progress goes to the parent's queue."""
    run, label = work
    if isinstance(run, list):                         # a population
        if STATE.signum or (_WORKER_STOP is not None and _WORKER_STOP.is_set()):
            return label, [{"status": "not started"} for _ in run]
        if _WORKER_THREADS:
            run = [PlannedRun({**r.options, "threads": r.options.get("threads") or _WORKER_THREADS}, r.run_id,
                              r.path, r.trial) for r in run]
        return label, run_population_locked(run)
    if STATE.signum or (_WORKER_STOP is not None and _WORKER_STOP.is_set()):
        return label, {"status": "not started"}
    if _WORKER_THREADS and not run.options.get("threads"):
        run = PlannedRun({**run.options, "threads": _WORKER_THREADS}, run.run_id, run.path, run.trial)
    reporters = [QueueReporter(_WORKER_QUEUE, label)] if _WORKER_QUEUE is not None else []
    return label, run_locked(run, callbacks=reporters)
def _annotations(run: PlannedRun) -> dict[str, Any]:
    """What a sweep adds to a run's record beyond its options (a search trial's index and draws)."""
    return {"trial": run.trial} if run.trial else {}


def wandb_sweep_config(spec: SweepSpec | Mapping[str, Any], sweep_path: str, n_runs: int,
                       quick: bool = False) -> dict[str, Any]:
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


def wandb_search_configs(spec: SweepSpec | Mapping[str, Any], search: Search) -> list[dict[str, Any]]:
    """One W&B sweep configuration (``method: random``) per (variant, dataset) of a searched sweep.

    W&B draws every parameter independently, seeds included (``seed: {values: [...]}``); the trials are ordinary
    ``benchmark run`` calls, and ``benchmark tune`` groups their records by configuration, so runs made by W&B
    agents and by ``benchmark sweep`` are tuned alike. ``run_cap`` = trials × seeds.
    """
    recipes = SweepSpec.of(spec).recipes()
    out = []
    for data in spec["datasets"]:
        for variant in spec["variants"]:
            fixed = cell_options(spec, recipes, variant, data)
            if spec.get("name"):
                fixed.setdefault("group", spec["name"])
            params: dict[str, Any] = {k: {"value": v} for k, v in fixed.items()}
            params.update({"variant": {"value": variant}, "data": {"value": data},
                           "seed": {"values": list(spec["seeds"])}})
            params.update({d.name: d.wandb() for d in search.space(variant)})
            out.append({"name": f"{spec.get('name', 'ganbench')}-{variant}-{data}", "method": "random",
                        "program": "benchmark", "run_cap": search.trials * len(spec["seeds"]),
                        "command": ["${env}", "python", "-m", "benchmark", "run", "${args}"],
                        "parameters": params})
    return out


def _short_repr(v: Any, width: int = 60) -> str:
    r = repr(v)
    return r if len(r) <= width else r[:width] + "…"
