"""Random hyper-parameter search declared in a sweep file (Lucic et al. 2018: compare objectives at equal budget,
each at its own best hyper-parameters).

A sweep file's ``search`` section::

    search:
      trials: 8             # hyper-parameter draws per variant (trial 0 is the variant's own recipe, undrawn)
      seed: 0               # the draws depend only on (seed, variant, trial): adding a variant changes no other
      keep: 2               # optional successive halving: every trial runs on the first seed, the best 2 per
                            # (variant, dataset) then run on the other seeds and are judged on all of them
      spaces:
        default:            # for every variant without its own entry
          lr_g: {log_uniform: [1.0e-4, 5.0e-3]}
          lr_d: {log_uniform: [1.0e-4, 5.0e-3]}
          beta1: {choice: [0.0, 0.5]}
        wgan:
          lr_g: {log_uniform: [1.0e-5, 1.0e-3]}
          clip: {uniform: [0.005, 0.05]}

Each trial of each variant runs on every dataset with every seed of the sweep (with ``keep``: on the first seed, and
the ``keep`` best of each (variant, dataset) on the others, see :func:`benchmark.train.search.shortlist`); a trial is an ordinary run whose
record also says ``"trial": {"sweep", "index", "params"}``. ``python -m benchmark tune`` picks each (variant,
dataset)'s best trial by the dataset's primary metric (median over seeds) and writes the recipes file the default
sweep reads. The same spaces export to W&B sweeps (``method: random``, :func:`benchmark.train.sweep.wandb_search_configs`) so ``wandb agent`` can run the trials.
"""
from __future__ import annotations

import json
import math
import random
import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from datamodules import get_datamodule
from models import VARIANTS, ConfigError
from models.config import field_types

from .. import score

DISTRIBUTIONS = ("log_uniform", "uniform", "int_uniform", "choice")
SEARCH_KEYS = {"trials", "seed", "spaces", "include_recipe", "keep"}
MAX_TRIALS = 10_000


@dataclass(frozen=True)
class Dimension:
    """One searched option: ``kind`` in :data:`DISTRIBUTIONS`; ``args`` are [low, high] or the choices."""
    name: str
    kind: str
    args: tuple

    def draw(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return self.args[rng.randrange(len(self.args))]
        low, high = self.args
        if self.kind == "log_uniform":
            return float(f"{math.exp(rng.uniform(math.log(low), math.log(high))):.3g}")   # 3 digits: readable
        if self.kind == "int_uniform":
            return rng.randint(int(low), int(high))
        return float(f"{rng.uniform(low, high):.3g}")

    def wandb(self) -> dict[str, Any]:
        """The W&B sweep parameter of this dimension."""
        if self.kind == "choice":
            return {"values": list(self.args)}
        low, high = self.args
        kind = {"log_uniform": "log_uniform_values", "uniform": "uniform", "int_uniform": "int_uniform"}[self.kind]
        return {"distribution": kind, "min": low, "max": high}


@dataclass(frozen=True)
class Search:
    trials: int
    seed: int
    spaces: dict[str, tuple[Dimension, ...]]     # variant (or "default") -> dimensions
    include_recipe: bool = True
    keep: int | None = None                      # successive halving: the best `keep` trials go on to the other seeds

    def space(self, variant: str) -> tuple[Dimension, ...]:
        return self.spaces.get(variant, self.spaces.get("default", ()))

    def params(self, variant: str, trial: int) -> dict[str, Any]:
        """The options of trial ``trial`` of ``variant``: {} for trial 0 when the recipe is included."""
        if self.include_recipe and trial == 0:
            return {}
        rng = random.Random(f"ganbench-search/{self.seed}/{variant}/{trial}")   # str seeds are stable (sha512)
        return {d.name: d.draw(rng) for d in self.space(variant)}


def _dimension(variant: str, name: str, spec: Any) -> Dimension:
    where = f"search.spaces.{variant}.{name}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ConfigError(f"{where} must be one of {{log_uniform: [low, high]}}, {{uniform: [low, high]}}, "
                          f"{{int_uniform: [low, high]}} or {{choice: [a, b, ...]}}; got {spec!r}")
    kind, args = next(iter(spec.items()))
    if not isinstance(args, list) or not args:
        raise ConfigError(f"{where}: {kind} needs a non-empty list, got {args!r}")
    if kind != "choice":
        if len(args) != 2 or not all(isinstance(a, (int, float)) and math.isfinite(a) for a in args):
            raise ConfigError(f"{where}: {kind} needs [low, high] (two finite numbers), got {args!r}")
        low, high = args
        if not low < high:
            raise ConfigError(f"{where}: low must be < high, got {args!r}")
        if kind == "log_uniform" and low <= 0:
            raise ConfigError(f"{where}: log_uniform needs low > 0, got {args!r}")
    return Dimension(name, kind, tuple(args))


def parse_search(spec: Any, variants: list[str]) -> Search:
    """Validate a sweep's ``search`` section against the variants it runs (their ``Config`` fields)."""
    if not isinstance(spec, dict):
        raise ConfigError("sweep key 'search' must be a mapping with trials, seed and spaces")
    unknown = sorted(map(str, set(spec) - SEARCH_KEYS))
    if unknown:
        raise ConfigError(f"unknown search key(s) {', '.join(unknown)}; valid: {', '.join(sorted(SEARCH_KEYS))}")
    trials, seed = spec.get("trials"), spec.get("seed", 0)
    if not isinstance(trials, int) or isinstance(trials, bool) or not 1 <= trials <= MAX_TRIALS:
        raise ConfigError(f"search.trials must be an integer >= 1 (at most {MAX_TRIALS:,}), got {str(trials)[:60]}")
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ConfigError(f"search.seed must be an integer, got {seed!r}")
    spaces_spec = spec.get("spaces")
    if not isinstance(spaces_spec, dict) or not spaces_spec:
        raise ConfigError("search.spaces must map variant names (or 'default') to {option: distribution}")
    stray = sorted(map(str, set(spaces_spec) - set(VARIANTS) - {"default"}))
    if stray:
        raise ConfigError(f"search.spaces names unknown variant(s) {', '.join(stray)}; "
                          f"valid: default, {', '.join(sorted(VARIANTS))}")
    spaces: dict[str, tuple[Dimension, ...]] = {}
    for key, dims in spaces_spec.items():
        if not isinstance(dims, dict) or not dims:
            raise ConfigError(f"search.spaces.{key} must map option names to distributions")
        spaces[key] = tuple(_dimension(key, name, d) for name, d in dims.items())
    for variant in variants:                  # every searched name must be a field of the variant's Config
        if variant not in VARIANTS:
            raise ConfigError(f"sweep variants: unknown variant {str(variant)[:60]!r}; choose one of: "
                              f"{', '.join(sorted(VARIANTS))}")
        fields = field_types(VARIANTS[variant].Config)
        key = variant if variant in spaces else "default"
        for d in spaces.get(key, ()):
            if d.name not in fields:
                raise ConfigError(f"search.spaces.{key}.{d.name} is not an option of {variant} "
                                  f"(its Config fields: {', '.join(sorted(fields))})")
    keep = spec.get("keep")
    if keep is not None and (not isinstance(keep, int) or isinstance(keep, bool) or not 1 <= keep <= trials):
        raise ConfigError(f"search.keep must be a whole number from 1 to search.trials ({trials}), got "
                          f"{str(keep)[:60]}: the number of trials per (variant, dataset) that go on from the "
                          "first seed to the others")
    return Search(trials, seed, spaces, bool(spec.get("include_recipe", True)), keep)


# --- judging a search's trials (used by `tune` and by the sweep's successive halving, `keep`) ---

@dataclass
class Trial:
    variant: str
    dataset: str
    config: dict[str, Any]          # the trial's configuration (any seed's)
    index: int | None               # the search's trial index, when a sweep ran it
    values: dict[str, list[float]]  # metric -> per-seed values; ±inf (worst) for a failed/diverged/unscored seed
    first_seen: str
    seed_list: list[Any] = None      # the seeds of its records, in record order

    def median(self, metric: str) -> float:
        return statistics.median(self.values[metric])

    def seeds(self) -> int:
        return len(next(iter(self.values.values())))


def worst(metric: str) -> float:
    return math.inf if score.lower_is_better(metric) else -math.inf


def trials_of(records: list[dict], sweep: str, metrics_of: dict[str, tuple[str, ...]]) -> list[Trial]:
    """Group the sweep's records into trials (same configuration but the seed)."""
    groups: dict[tuple[str, str, str], Trial] = {}
    for rec in records:
        if rec.get("group") != sweep or rec.get("dataset") not in metrics_of:
            continue
        config = {k: v for k, v in (rec.get("config") or {}).items() if k != "seed"}
        key = (rec["variant"], rec["dataset"], json.dumps(config, sort_keys=True, default=str))
        t = groups.get(key)
        if t is None:
            index = (rec.get("trial") or {}).get("index")
            t = groups[key] = Trial(rec["variant"], rec["dataset"], config, index,
                                    {m: [] for m in metrics_of[rec["dataset"]]}, rec.get("finished_at") or "", [])
        t.seed_list.append(rec.get("seed"))
        scored = (rec.get("metrics") or {}) if rec.get("status") == "completed" else {}
        for m in metrics_of[rec["dataset"]]:
            v = scored.get(m)
            t.values[m].append(worst(m) if v is None or not math.isfinite(v) else float(v))
    return list(groups.values())


def ranked_trials(trials: list[Trial], metrics_of: dict[str, tuple[str, ...]]
                  ) -> dict[tuple[str, str], tuple[list[Trial], list[Trial]]]:
    """(variant, dataset) -> (its trials best first, its trials in search order). Lexicographic on the dataset's
    ranked metrics (each trial's median over its seeds), ties going to the earlier trial."""
    cells: dict[tuple[str, str], list[Trial]] = defaultdict(list)
    for t in trials:
        cells[(t.variant, t.dataset)].append(t)
    out = {}
    for cell, ts in cells.items():
        ts.sort(key=lambda t: (t.index if t.index is not None else math.inf, t.first_seen))
        metrics = metrics_of[cell[1]]

        def rank(t: Trial) -> tuple:             # lexicographic over the metrics, each oriented "smaller wins"
            return (*((1 if score.lower_is_better(m) else -1) * t.median(m) for m in metrics), ts.index(t))

        out[cell] = (sorted(ts, key=rank), ts)
    return out


def best_trials(trials: list[Trial], metrics_of: dict[str, tuple[str, ...]]
                ) -> dict[tuple[str, str], tuple[Trial, list[Trial]]]:
    """(variant, dataset) -> (its best trial, all its trials in search order)."""
    return {cell: (ranked[0], ts) for cell, (ranked, ts) in ranked_trials(trials, metrics_of).items()}


def shortlist(records: list[dict], sweep: str, datasets: list[str], keep: int) -> dict[tuple[str, str], list[int]]:
    """Successive halving's cut (Jamieson & Talwalkar 2016, one rung): per (variant, dataset), the indices of the
    ``keep`` best trials by their scores on the seeds run so far (the first seed), which go on to the other seeds.
    A failed or diverged run scores worst, so it is kept only when fewer than ``keep`` trials did better."""
    metrics_of = {d: ranked_metrics(d) for d in datasets}
    ranked = ranked_trials(trials_of(records, sweep, metrics_of), metrics_of)
    return {cell: [t.index for t in order[:keep]] for cell, (order, _) in ranked.items()}


def ranked_metrics(dataset: str) -> tuple[str, ...]:
    """The dataset's metrics that rank trials: its primary one first, then the others in declared order."""
    dm = get_datamodule(dataset)
    primary = dm.primary_metric()
    return (primary, *(m for m in dm.metrics if m != primary))
