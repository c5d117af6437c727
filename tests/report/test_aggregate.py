"""Honest statistics of benchmark.report.aggregate on hand-made run records: median, bootstrap interval,
collapsed and diverged seeds, conditional variants ranked apart, best trial of a search, ranks with ties."""
import math

import numpy as np
import pytest

from benchmark.report.aggregate import (
    aggregate,
    bootstrap_interval,
    is_conditional,
    leaderboard,
)
from benchmark.report.markdown import summary_csv, summary_markdown


def rec(variant, dataset, seed, metrics, status="completed", trial=None, **config):
    r = {"run_id": f"{variant}-{dataset}-s{seed}-{trial['index'] if trial else 'x'}-{sorted(config.items())}",
         "variant": variant, "dataset": dataset, "seed": seed, "status": status, "steps": 100,
         "metrics": metrics if status == "completed" else {}, "config": {"variant": variant, "seed": seed, **config}}
    if trial:
        r["trial"] = trial
        r["config"].update(trial["params"])
    return r


def ring(variant, seed, modes, **kw):
    return rec(variant, "ring8", seed, {"modes_covered": float(modes), "high_quality": 50.0}, **kw)


def row(rows, variant, metric, dataset="ring8"):
    (r,) = [r for r in rows if r.variant == variant and r.metric == metric and r.dataset == dataset]
    return r


def test_bootstrap_interval_is_deterministic_and_brackets_the_median():
    vals = [1.0, 2.0, 3.0, 4.0, 10.0]
    lo, hi = bootstrap_interval(vals)
    assert (lo, hi) == bootstrap_interval(vals)                   # fixed RNG seed: same report every time
    assert lo <= 3.0 <= hi and lo >= 1.0 and hi <= 10.0 and lo < hi
    # against an independent loop over the same resamples
    rng = np.random.default_rng(0)
    meds = sorted(float(np.median([vals[i] for i in rng.integers(0, 5, 5)])) for _ in range(2000))
    assert lo == meds[int(np.floor(0.025 * 1999))] and hi == meds[int(np.ceil(0.975 * 1999))]
    assert bootstrap_interval([7.0]) == (7.0, 7.0)
    assert bootstrap_interval([-math.inf, 5.0, 6.0])[0] == -math.inf      # a diverged seed stays visible
    with pytest.raises(ValueError):
        bootstrap_interval([])


def test_median_collapsed_and_diverged_seeds():
    runs = [ring("nsgan", s, m) for s, m in enumerate([8, 8, 7, 1])]
    runs += [ring("lsgan", 0, 8), ring("lsgan", 1, 3), ring("lsgan", 2, 8), ring("lsgan", 3, 0, status="diverged")]
    rows = aggregate(runs)
    ns = row(rows, "nsgan", "modes_covered")
    assert ns.median == 7.5 and ns.mean == 6.0 and ns.n == 4 and ns.n_stat == 4
    assert ns.collapsed == 1 and ns.collapsed_runs == [runs[3]["run_id"]]        # one mode covered
    ls = row(rows, "lsgan", "modes_covered")
    # 3 < 0.5 x median 8: collapsed; the diverged seed counts as the worst score in the median, not in the mean
    assert ls.collapsed == 1 and ls.diverged == 1 and ls.n == 3 and ls.n_stat == 4
    assert ls.median == 5.5 and ls.mean == pytest.approx(19 / 3) and ls.ci_low == -math.inf
    assert ns.ci_low <= ns.median <= ns.ci_high


def test_conditional_variants_are_ranked_apart():
    assert is_conditional({"variant": "cgan", "config": {}}) and not is_conditional({"variant": "nsgan", "config": {}})
    assert is_conditional({"variant": "nsgan", "config": {"conditional": True}})
    runs = [ring("cgan", s, 8) for s in range(3)] + [ring("nsgan", s, 5) for s in range(3)]
    board = leaderboard(aggregate(runs))
    groups = board.datasets["ring8"].groups
    assert [e.base for e in groups["unconditional"]] == ["nsgan"] and groups["unconditional"][0].rank == 1
    assert [e.base for e in groups["conditional"]] == ["cgan"]
    md = summary_markdown(runs, aggregate(runs))
    assert md.index("Unconditional objectives") < md.index("Conditional objectives") < md.index("## Per dataset")
    assert "| cgan (conditional) | 3/0/0 |" in md


def test_ranks_tie_where_intervals_overlap_and_cross_dataset_mean_rank():
    runs = [ring("nsgan", s, m) for s, m in enumerate([8, 8, 8])]
    runs += [ring("lsgan", s, m) for s, m in enumerate([6, 8, 7])]         # overlaps nsgan at 8
    runs += [ring("wgan", s, m) for s, m in enumerate([2, 3, 2])]          # below both
    runs += [rec(v, "grid25", s, {"modes_covered": float(m)}) for v, ms in
             (("nsgan", [10, 11, 12]), ("lsgan", [20, 21, 22]), ("wgan", [20, 22, 21])) for s, m in enumerate(ms)]
    board = leaderboard(aggregate(runs))
    rank = {e.base: e.rank for e in board.datasets["ring8"].groups["unconditional"]}
    assert rank == {"nsgan": 1, "lsgan": 1, "wgan": 3}
    rank = {e.base: e.rank for e in board.datasets["grid25"].groups["unconditional"]}
    assert rank == {"lsgan": 1, "wgan": 1, "nsgan": 3}
    overall = {e.label: e.mean_rank for e in board.overall["unconditional"]}
    assert overall == {"lsgan": 1.0, "nsgan": 2.0, "wgan": 2.0}
    assert next(e.label for e in board.overall["unconditional"]) == "lsgan"


def test_one_seed_has_no_interval_and_ties():
    runs = [ring("nsgan", 0, 8), ring("lsgan", 0, 2)]
    entries = leaderboard(aggregate(runs)).datasets["ring8"].groups["unconditional"]
    assert [(e.base, e.rank) for e in entries] == [("nsgan", 1), ("lsgan", 1)]     # ordered, not apart


def test_lower_is_better_ranks_the_smallest_first():
    runs = [rec("nsgan", "digits", s, {"domain_fd": v}) for s, v in enumerate([10.0, 11.0, 12.0])]
    runs += [rec("lsgan", "digits", s, {"domain_fd": v}) for s, v in enumerate([50.0, 51.0, 52.0])]
    (first, second) = leaderboard(aggregate(runs)).datasets["digits"].groups["unconditional"]
    assert (first.base, first.rank, second.base, second.rank) == ("nsgan", 1, "lsgan", 2)


def test_only_the_best_trial_enters_the_leaderboard_and_trials_are_not_averaged():
    runs = []
    for idx, modes in enumerate([[2, 3, 2], [8, 7, 8], [6, 6, 5]]):
        t = {"sweep": "toy_search", "index": idx, "params": {"lr_g": 10.0 ** -(idx + 2)}}
        runs += [ring("nsgan", s, m, trial=t) for s, m in enumerate(modes)]
    rows = aggregate(runs)
    trial_rows = [r for r in rows if r.metric == "modes_covered"]
    assert sorted(r.variant for r in trial_rows) == ["nsgan · trial 0", "nsgan · trial 1", "nsgan · trial 2"]
    assert [r.variant for r in trial_rows if r.selected] == ["nsgan · trial 1"]
    (entry,) = leaderboard(rows).datasets["ring8"].groups["unconditional"]
    assert entry.median == 8.0 and entry.n_stat == 3 and entry.trials == 3 and entry.base == "nsgan"
    md = summary_markdown(runs, rows)
    assert "best of 3 trials: #1" in md and "| nsgan · trial 1 ✓ | toy_search |" in md
    assert "nsgan · trial 0 | 0/" not in md                              # not a row of the main table
    csv = summary_csv(rows)
    assert csv.splitlines()[0].startswith("dataset,variant,metric,median,ci_low,ci_high")
    assert "mean,std" in csv.splitlines()[0]
