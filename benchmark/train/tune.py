"""Pick each (variant, dataset)'s best hyper-parameters from a finished search and write them as recipes.

A search's runs are the records whose ``group`` is the sweep's name (what ``benchmark sweep`` and the exported
W&B sweeps both set). Runs that differ only in their seed form one trial; a trial's score is the median of the
dataset's primary metric (:meth:`datamodules.GANDataModule.primary_metric`) over its seeds, a failed or diverged seed
counting as the worst possible value, so a recipe that is fragile loses to one that is not. Ties on the primary
metric (``modes_covered`` saturates at 8/8 on ring8) are broken by the dataset's next metrics in their declared
order (``high_quality``, then ``reverse_kl``), then by the earlier trial.
"""
from __future__ import annotations

import math
import os
import sys
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

from models import ConfigError

from ..io import load_runs
from .recipes import load_recipes, write_recipes
from .search import Trial, best_trials, parse_search, ranked_metrics, trials_of


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
    metrics_of = {d: ranked_metrics(d) for d in spec["datasets"]}
    all_trials = trials_of(load_runs(results_dir), name, metrics_of)
    if not all_trials:
        raise ConfigError(f"no runs of sweep {name!r} under {Path(results_dir) / 'runs'}: run "
                          f"`python -m benchmark sweep` on it first (with the same --results-dir)")
    most: dict[tuple[str, str], int] = defaultdict(int)
    for t in all_trials:
        most[(t.variant, t.dataset)] = max(most[(t.variant, t.dataset)], len(set(map(str, t.seed_list))))
    complete, pruned = [], 0
    for t in all_trials:               # a trial scored on fewer seeds than its rivals could win by luck: left out
        n = len(set(map(str, t.seed_list)))
        if n < most[(t.variant, t.dataset)] and search.keep is not None and n == 1:
            pruned += 1                # cut by the search's successive halving (search.keep): expected
        elif n < most[(t.variant, t.dataset)]:
            print(f"warning: tune: {t.variant}/{t.dataset} trial {t.index} has records for {n} seed(s), its "
                  f"rivals for {most[(t.variant, t.dataset)]}; left out of the ranking (finish the sweep to "
                  "include it)", file=sys.stderr)
        else:
            complete.append(t)
    if pruned:
        print(f"tune: {pruned} trial(s) ran on the first seed only (cut by search.keep={search.keep}); the others "
              "are judged on all their seeds", file=sys.stderr)
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
        baseline = next((t for t in all_trials if (t.variant, t.dataset) == (variant, dataset) and t.index == 0),
                        None) if search.include_recipe else None      # judged on its first seed if keep cut it
        metric = metrics_of[dataset][0]
        n_trials = sum((t.variant, t.dataset) == (variant, dataset) for t in all_trials)
        provenance = {"sweep": name, "trial": best.index, "trials": n_trials, "metric": metric,
                      "median": _round(best.median(metric)), "seeds": best.seeds(),
                      **({"kept": search.keep} if search.keep is not None else {}),
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

            stream.write(f"{variant:15s} {dataset:8s} trial {best.index} of {provenance['trials']}: {medians(best)} "
                         f"(paper recipe: {medians(baseline)})  {shown}\n")
    if not written:
        raise ConfigError(f"no trial of sweep {name!r} has a score on all its seeds (runs failed, diverged or are "
                          f"missing): {recipes_path} is left unchanged; fix the failures and re-run the sweep")
    write_recipes(recipes_path, recipes)
    return recipes


def _round(v: float) -> float | None:
    return None if not math.isfinite(v) else float(f"{v:.4g}")
