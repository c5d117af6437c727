"""Pick each (variant, dataset)'s best hyper-parameters from a finished search and write them as recipes.

A search's runs are the records whose ``group`` is the sweep's name (what ``benchmark sweep`` and the exported
W&B sweeps both set). Runs that differ only in their seed form one trial; a trial's score is the median of the
dataset's primary metric (:meth:`datamodules.GANDataModule.primary_metric`) over its seeds, a failed or diverged seed
counting as the worst possible value, so a recipe that is fragile loses to one that is not. Ties on the primary
metric (``modes_covered`` saturates at 8/8 on ring8) are broken by the dataset's next metrics in their declared
order (``high_quality``, then ``reverse_kl``), then by the earlier trial.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import sys
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from datamodules import get_datamodule
from models import ConfigError

from .. import score
from ..io import load_runs
from .recipes import load_recipes, write_recipes
from .search import parse_search


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


def _worst(metric: str) -> float:
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
            t.values[m].append(_worst(m) if v is None or not math.isfinite(v) else float(v))
    return list(groups.values())


def best_trials(trials: list[Trial], metrics_of: dict[str, tuple[str, ...]]
                ) -> dict[tuple[str, str], tuple[Trial, list[Trial]]]:
    """(variant, dataset) -> (its best trial, all its trials in search order)."""
    cells: dict[tuple[str, str], list[Trial]] = defaultdict(list)
    for t in trials:
        cells[(t.variant, t.dataset)].append(t)
    out = {}
    for cell, ts in cells.items():
        ts.sort(key=lambda t: (t.index if t.index is not None else math.inf, t.first_seen))
        metrics = metrics_of[cell[1]]

        def rank(t: Trial) -> tuple:             # lexicographic over the metrics, each oriented "smaller wins"
            return (*((1 if score.lower_is_better(m) else -1) * t.median(m) for m in metrics), ts.index(t))

        out[cell] = (min(ts, key=rank), ts)
    return out


def tune(spec: dict[str, Any], results_dir: str | os.PathLike, recipes_path: str | os.PathLike,
         stream=None) -> dict[str, Any]:
    """Write the best trial of every (variant, dataset) of the searched sweep ``spec`` into ``recipes_path``
    (other entries of an existing file are kept). Returns the recipes written.

    Raises:
        ConfigError: the sweep has no ``search`` section, or none of its runs are in ``results_dir``.
    """
    if not spec.get("search"):
        raise ConfigError("tune needs a sweep with a `search:` section (see benchmark/sweeps/toy_search.yaml)")
    from .sweep import with_all_expanded

    spec = with_all_expanded(spec)
    search = parse_search(spec["search"], list(spec["variants"]))
    name = spec.get("name") or ""
    metrics_of = {d: _ranked_metrics(d) for d in spec["datasets"]}
    all_trials = trials_of(load_runs(results_dir), name, metrics_of)
    if not all_trials:
        raise ConfigError(f"no runs of sweep {name!r} under {Path(results_dir) / 'runs'}: run "
                          f"`python -m benchmark sweep` on it first (with the same --results-dir)")
    most: dict[tuple[str, str], int] = defaultdict(int)
    for t in all_trials:
        most[(t.variant, t.dataset)] = max(most[(t.variant, t.dataset)], len(set(map(str, t.seed_list))))
    complete = []
    for t in all_trials:               # a trial scored on fewer seeds than its rivals could win by luck: left out
        n = len(set(map(str, t.seed_list)))
        if n < most[(t.variant, t.dataset)]:
            print(f"warning: tune: {t.variant}/{t.dataset} trial {t.index} has records for {n} seed(s), its "
                  f"rivals for {most[(t.variant, t.dataset)]}; left out of the ranking (finish the sweep to "
                  "include it)", file=sys.stderr)
        else:
            complete.append(t)
    found = best_trials(complete, metrics_of)
    recipes = load_recipes(recipes_path) if Path(recipes_path).is_file() else {}
    written = 0
    for (variant, dataset), (best, ts) in sorted(found.items()):
        if not math.isfinite(best.median(metrics_of[dataset][0])):
            print(f"warning: tune: every trial of {variant}/{dataset} failed or was not scored on "
                  f"{metrics_of[dataset][0]}; its recipe is left as it was", file=sys.stderr)
            continue
        written += 1
        names = [d.name for d in search.space(variant)]
        baseline = next((t for t in ts if t.index == 0), None) if search.include_recipe else None
        metric = metrics_of[dataset][0]
        provenance = {"sweep": name, "trial": best.index, "trials": len(ts), "metric": metric,
                      "median": _round(best.median(metric)), "seeds": best.seeds(),
                      "medians": {m: _round(best.median(m)) for m in metrics_of[dataset]},
                      "paper_recipe_medians": ({m: _round(baseline.median(m)) for m in metrics_of[dataset]}
                                               if baseline else None),
                      "budget": {k: best.config.get(k) for k in ("iterations", "batch_size") if k in best.config},
                      "date": date.today().isoformat()}
        recipes.setdefault(variant, {})[dataset] = {
            "options": {n: best.config[n] for n in names if n in best.config}, "provenance": provenance}
        if stream is not None:
            shown = ", ".join(f"{n}={best.config.get(n)}" for n in names)
            def medians(t: Trial | None) -> str:
                return ", ".join(f"{m} {_round(t.median(m))}" for m in metrics_of[dataset]) if t else "–"

            stream.write(f"{variant:15s} {dataset:8s} trial {best.index} of {len(ts)}: {medians(best)} "
                         f"(paper recipe: {medians(baseline)})  {shown}\n")
    if not written:
        raise ConfigError(f"no trial of sweep {name!r} has a score on all its seeds (runs failed, diverged or are "
                          f"missing): {recipes_path} is left unchanged; fix the failures and re-run the sweep")
    write_recipes(recipes_path, recipes)
    return recipes


def _ranked_metrics(dataset: str) -> tuple[str, ...]:
    """The dataset's metrics that rank trials: its primary one first, then the others in declared order."""
    dm = get_datamodule(dataset)
    primary = dm.primary_metric()
    return (primary, *(m for m in dm.metrics if m != primary))


def _round(v: float) -> float | None:
    return None if not math.isfinite(v) else float(f"{v:.4g}")
