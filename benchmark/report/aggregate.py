"""Run records -> comparison rows and leaderboards.

One row per (dataset, run label, metric): the median and a percentile-bootstrap 95% interval over seeds (the
numbers the leaderboard ranks by), mean ± std (kept as extra CSV columns), the best run, the per-seed values (for
strip plots), the run statuses, and the seeds that collapsed.

Definitions (also stated in the report):

* **Seeds in the statistics.** Completed runs contribute their score; a *diverged* run (training produced
  non-finite values, so it was not scored) counts as the worst possible score (−∞ when higher is better, +∞ when
  lower is better), so a method that diverges on most seeds cannot rank high on the seeds that survived. Failed
  (crashed) and interrupted runs say nothing about the objective: they are counted and listed, not scored. A
  NaN score counts as the worst score too.
* **Bootstrap interval.** :data:`BOOTSTRAP_RESAMPLES` resamples of the seeds with replacement, the median of
  each, the 2.5% and 97.5% order statistics of those medians (no interpolation, so ±∞ stays exact); the RNG is
  seeded with :data:`BOOTSTRAP_SEED` for every cell, so the report is deterministic. One seed: the interval is
  that value (no spread is known).
* **Collapsed seed.** On a dataset with a mode-coverage metric (the first metric with the ``coverage`` trait its runs
  scored: ``modes_covered``, ``class_coverage``, ``stacked_modes``), a completed seed *collapsed* when it covers
  at most one mode or fewer than :data:`COLLAPSE_FRACTION` (half) of the median coverage of its cell's seeds.
* **Conditional variants** (the variant's ``Config`` declares ``conditional = True``, e.g. ``cgan``, or the run
  set ``conditional: true``) use the labels, so they are ranked among themselves, never against unconditional
  objectives.
* **Trials** (runs with a ``trial`` field, from a random hyper-parameter search): each trial is its own cell
  (label ``<variant> · trial <index>``); per (dataset, variant) only the trial with the best median on the
  dataset's primary metric is ``selected`` for the leaderboard and the main tables. Trials are never averaged.
* **Rank** (per dataset, per group): 1 + the number of entries whose interval lies entirely on the better side
  of this entry's interval; entries whose intervals overlap the same better ones share a rank. A cell of one
  seed has no interval: it ties with every entry (and counts as no better than any).
* **Baselines** (:mod:`.baselines`): per dataset, the true data, a sampler that ignores the data ("noise") and a
  collapsed sampler, each scored on :data:`~.baselines.BASELINE_DRAWS` draws with the runs' protocol; their rows
  carry ``baseline`` and are never ranked.
* **Not better than noise**: a cell whose interval (one seed: its value) is not entirely on the better side of
  the noise baseline's interval. It is never ranked first: it is placed after every cell that beats noise
  (rank 1 + their number), and when no cell of its group beats noise the dataset ranks nothing in that group
  (rank ``None``, left out of the mean rank).
* **Smoke run**: when every run trained at most :data:`SMOKE_ITERATIONS` GAN iterations (``--quick``), nothing
  is ranked (rank ``None``).
* Fewer than :data:`MIN_SEEDS` seeds in a cell is flagged (``few_seeds``): its interval is barely an interval
  (with 3 seeds the 95% percentile-bootstrap interval of the median is the min–max).
"""
from __future__ import annotations

import dataclasses
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from datamodules import get_datamodule

from .. import score
from ..score import METRIC_GROUPS

COLLAPSE_FRACTION = 0.5
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0
IGNORED_KEYS = {"seed", "group"}
MIN_SEEDS = 5
SMOKE_ITERATIONS = 100
SCORED_STATUSES = ("completed", "diverged")


@dataclass
class AggregateRow:
    """One row of :func:`aggregate` (a run cell) or :func:`baseline_rows` (a baseline): one (dataset, label,
    metric) and its statistics over the seeds (a baseline's: over its draws); see the module doc."""

    dataset: str
    variant: str                    # the row's label: the variant, its varying options, `· trial <index>`
    base: str                       # the label without its trial suffix: what the leaderboard ranks
    metric: str                     # "" for a cell none of whose runs was scored
    median: float | None            # over n_stat values; None when there are none
    ci_low: float | None            # 95% percentile-bootstrap interval of the median
    ci_high: float | None
    n_stat: int                     # values in the median (diverged seeds count as the worst score)
    mean: float | None              # inf when a seed's value is not finite; None without values
    std: float | None
    n: int                          # scored completed runs (a baseline: draws)
    best: float | None              # the best value and its run
    best_run: str | None
    values: list[tuple[float, str, Any]]    # (value, run_id, seed) of the completed runs (a baseline: draws)
    completed: int                  # run counts per status
    diverged: int
    failed: int
    interrupted: int
    collapsed: int                  # completed seeds whose mode coverage collapsed, and their run ids
    collapsed_runs: list[str]
    coverage_metric: str | None     # the metric collapse was judged by
    conditional: bool               # ranked among the conditional variants
    trial: dict[str, Any] | None    # {"sweep", "index", "params"} of a search trial's cell
    selected: bool = True           # enters the leaderboard and the main tables (the best trial of a search)
    baseline: str | None = None     # the baseline sampler (true, noise, collapsed); None for runs


@dataclass
class RankedRow(AggregateRow):
    """A leaderboard entry: its row plus its rank (``None``: unranked), whether it is ``noise`` (not better than
    the noise baseline), ``few_seeds`` (under :data:`MIN_SEEDS`) and ``trials`` (trials searched, 0: none)."""

    rank: int | None = None
    noise: bool = False
    few_seeds: bool = False
    trials: int = 0

    @classmethod
    def of(cls, row: AggregateRow, **ranking: Any) -> "RankedRow":
        return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(AggregateRow)}, **ranking)


@dataclass
class DatasetBoard:
    """One dataset of the :class:`Leaderboard`: its primary ``metric``, the ranked entries per group
    (``unconditional``/``conditional``, best first; a group with no entry is absent) and its ``baselines``
    (``{name: row}`` on the primary metric)."""

    metric: str
    groups: dict[str, list[RankedRow]]
    baselines: dict[str, AggregateRow]


@dataclass
class OverallRank:
    """A label's mean rank across the datasets it was ranked on (``None``: ranked nowhere) and those ranks."""

    label: str
    mean_rank: float | None
    ranks: dict[str, int] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """The output of :func:`leaderboard`: per dataset its :class:`DatasetBoard`, per group the labels by mean rank;
    ``smoke``: nothing was ranked (:func:`is_smoke`)."""

    datasets: dict[str, DatasetBoard]
    overall: dict[str, list[OverallRank]]
    smoke: bool = False


def lower_is_better(metric: str) -> bool:
    """The direction of a registered metric (an unregistered one, from an old run file, counts as higher)."""
    return metric in METRIC_GROUPS and score.lower_is_better(metric)


def arrow(metric: str) -> str:
    return "↓" if lower_is_better(metric) else "↑"


def primary_metric(dataset: str, metrics: list[str]) -> str | None:
    """The dataset's primary metric (declared by its datamodule) when its runs scored it, else the first of its
    declared metrics they scored (runs from before a primary metric was added), else their first."""
    try:
        declared = tuple(get_datamodule(dataset).metrics)
    except KeyError:
        declared = ()
    return next((m for m in declared if m in metrics), metrics[0] if metrics else None)


def coverage_metric(metrics: list[str] | set[str]) -> str | None:
    """The mode-coverage metric a collapsed seed is judged by (the first registered metric declaring the
    ``coverage`` trait that was scored)."""
    return next((m for m in score.coverage_metrics() if m in metrics), None)


def is_conditional(run: dict) -> bool:
    """Whether the run's generator used the labels: the run's ``conditional`` option, else its variant's
    ``Config`` default (``cgan`` declares ``conditional = True``)."""
    cfg = run.get("config") or {}
    if "conditional" in cfg:
        return bool(cfg["conditional"])
    import models

    cls = models.VARIANTS.get(run.get("variant", ""))
    if cls is None:
        return False
    default = {f.name: f.default for f in dataclasses.fields(cls.Config)}.get("conditional", False)
    return bool(default) if default is not dataclasses.MISSING else False


def worst(metric: str) -> float:
    return math.inf if lower_is_better(metric) else -math.inf


def bootstrap_interval(values: list[float], *, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED,
                       level: float = 0.95) -> tuple[float, float]:
    """Percentile-bootstrap interval of the median of ``values`` (seeds): ``(low, high)``; see the module doc."""
    if not values:
        raise ValueError("bootstrap_interval needs at least one value")
    x = np.asarray(values, dtype=np.float64)
    if len(x) == 1:
        return float(x[0]), float(x[0])
    idx = np.random.default_rng(seed).integers(0, len(x), size=(resamples, len(x)))
    with np.errstate(invalid="ignore"):
        meds = np.sort(np.median(x[idx], axis=1))     # median of ±inf values stays ±inf (no inf - inf: one sign)
    a = (1 - level) / 2
    return float(np.quantile(meds, a, method="lower")), float(np.quantile(meds, 1 - a, method="higher"))


def trial_suffix(trial: dict, sweeps: set[str]) -> str:
    return f" · trial {trial.get('sweep')}/{trial.get('index')}" if len(sweeps) > 1 else f" · trial {trial.get('index')}"


def run_labels(runs: list[dict]) -> dict[str, str]:
    """Label each run with its variant plus the options that vary among runs of that variant and dataset
    (e.g. ``nsgan [minibatch_kernels=16]``), so a variant with and without a trick are separate rows. A run of a
    hyper-parameter search gets ``· trial <index>`` instead of its searched parameters."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        by_cell[(r["variant"], r["dataset"])].append(r)
    labels = {}
    for (variant, _), cell in by_cell.items():
        searched = {k for r in cell if r.get("trial") for k in (r["trial"].get("params") or {})}
        keys = sorted({k for r in cell for k in r.get("config", {})} - IGNORED_KEYS - searched)
        varying = [k for k in keys if len({repr(r.get("config", {}).get(k)) for r in cell}) > 1]
        sweeps = {str(r["trial"].get("sweep")) for r in cell if r.get("trial")}
        for r in cell:
            extra = ", ".join(f"{k}={r['config'].get(k)}" for k in varying)
            label = f"{variant} [{extra}]" if extra else variant
            labels[r["run_id"]] = label + (trial_suffix(r["trial"], sweeps) if r.get("trial") else "")
    return labels


def fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞" if v > 0 else "−∞"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def fmt_ci(row: AggregateRow) -> str:
    """``median [low, high]`` of a row (the interval omitted for one seed)."""
    if row.median is None:
        return "–"
    if row.n_stat < 2:
        return fmt(row.median)
    return f"{fmt(row.median)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}]"


def _collapsed(cell_runs: list[dict], cov: str | None) -> list[str]:
    if cov is None:
        return []
    vals = [(float(r["metrics"][cov]), r["run_id"]) for r in cell_runs
            if r.get("status") == "completed" and _number((r.get("metrics") or {}).get(cov))]
    if not vals:
        return []
    med = statistics.median(v for v, _ in vals)
    return [rid for v, rid in vals if v <= 1 or v < COLLAPSE_FRACTION * med]


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and not math.isnan(v)


def finite_number(v: Any) -> bool:
    """``v`` is a finite int or float (not a bool, ``None``, NaN or ±inf)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def aggregate(runs: list[dict], baselines: dict[str, dict] | None = None) -> list[AggregateRow]:
    """One :class:`AggregateRow` per (dataset, label, metric), see the module doc; then the rows of
    :func:`baseline_rows` for ``baselines`` (the output of :func:`benchmark.report.baselines.baselines_for`)."""
    labels = run_labels(runs)
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        by_cell[(r["dataset"], labels[r["run_id"]])].append(r)
    rows = []
    for (dataset, label), cell in sorted(by_cell.items()):
        counts = defaultdict(int)
        for r in cell:
            counts[r.get("status", "failed")] += 1
        metric_names = sorted({m for r in cell if r.get("status") == "completed"
                               for m, v in (r.get("metrics") or {}).items() if v is not None})
        cov = coverage_metric(metric_names)
        collapsed = _collapsed(cell, cov)
        trial = next((r["trial"] for r in cell if r.get("trial")), None)
        base = label.split(" · trial ")[0] if trial else label
        for m in metric_names or [""]:
            vals = [(float(r["metrics"][m]), r["run_id"], r.get("seed")) for r in cell
                    if r.get("status") == "completed" and (r.get("metrics") or {}).get(m) is not None]
            finite = [v for v, _, _ in vals if math.isfinite(v)]
            stat = [worst(m) if math.isnan(v) else v for v, _, _ in vals] + \
                [worst(m)] * (counts.get("diverged", 0) if m else 0)
            best = None
            ok = [t for t in vals if not math.isnan(t[0])]
            if ok:
                best = (min if lower_is_better(m) else max)(ok, key=lambda t: t[0])
            lo, hi = bootstrap_interval(stat) if stat else (None, None)
            rows.append(AggregateRow(
                dataset=dataset, variant=label, base=base, metric=m,
                median=statistics.median(stat) if stat else None, ci_low=lo, ci_high=hi, n_stat=len(stat),
                # an infinite value (e.g. reverse KL with no high-quality sample) makes the mean infinite:
                # averaging only the finite seeds would hide the failed ones
                mean=(statistics.fmean(finite) if len(finite) == len(vals) else math.inf) if vals else None,
                std=(statistics.stdev(finite) if len(finite) > 1 else 0.0)
                if vals and len(finite) == len(vals) else None,
                n=len(vals), best=best[0] if best else None, best_run=best[1] if best else None,
                values=vals, completed=counts.get("completed", 0), diverged=counts.get("diverged", 0),
                failed=counts.get("failed", 0), interrupted=counts.get("interrupted", 0),
                collapsed=len(collapsed), collapsed_runs=collapsed, coverage_metric=cov,
                conditional=any(is_conditional(r) for r in cell), trial=trial))
    _select_best_trials(rows)
    return rows + baseline_rows(baselines or {})


def baseline_rows(baselines: dict[str, dict]) -> list[AggregateRow]:
    """One :class:`AggregateRow` per (dataset, baseline, metric), over the draws; the label is ``baseline:
    <what>`` and ``baseline`` names the sampler (``true``, ``noise``, ``collapsed``)."""
    from .baselines import BASELINES

    rows = []
    for dataset, b in sorted(baselines.items()):
        for name, per_metric in (b.get("values") or {}).items():
            label = f"baseline: {BASELINES.get(name, name)}"
            for m, raw in sorted(per_metric.items()):
                vals = [None if v is None else float(v) for v in raw]   # "inf": a cache from before io's scheme
                if any(v is None for v in vals) or not vals:
                    continue
                stat = [worst(m) if math.isnan(v) else v for v in vals]
                finite = [v for v in vals if math.isfinite(v)]
                lo, hi = bootstrap_interval(stat)
                best = (min if lower_is_better(m) else max)(stat)
                rows.append(AggregateRow(
                    dataset=dataset, variant=label, base=label, metric=m, median=statistics.median(stat),
                    ci_low=lo, ci_high=hi, n_stat=len(stat),
                    mean=statistics.fmean(finite) if len(finite) == len(vals) else math.inf,
                    std=(statistics.stdev(finite) if len(finite) > 1 else 0.0) if len(finite) == len(vals) else None,
                    n=len(vals), best=best, best_run=None,
                    values=[(v, f"baseline-{name}-draw{d}", d) for d, v in enumerate(vals)],
                    completed=len(vals), diverged=0, failed=0, interrupted=0, collapsed=0, collapsed_runs=[],
                    coverage_metric=None, conditional=False, trial=None, baseline=name))
    return rows


def is_smoke(runs: list[dict]) -> bool:
    """Whether the runs are a smoke check (``--quick``): every run trained at most :data:`SMOKE_ITERATIONS`
    GAN iterations (by its configured budget, else its steps)."""
    budgets = [(r.get("config") or {}).get("iterations", r.get("steps")) for r in runs]
    budgets = [b for b in budgets if isinstance(b, (int, float))]
    return bool(budgets) and max(budgets) <= SMOKE_ITERATIONS


def beats(a: AggregateRow, b: AggregateRow, metric: str) -> bool:
    """``a``'s interval (its value for one seed) lies entirely on the better side of ``b``'s."""
    if lower_is_better(metric):
        return a.ci_high < b.ci_low
    return a.ci_low > b.ci_high


def _better_key(metric: str, row: AggregateRow) -> tuple:
    """Sort key: best median first, then more seeds, then label (deterministic)."""
    med = row.median
    if med is None or math.isnan(med):
        med = worst(metric)
    return (med if lower_is_better(metric) else -med, -row.n_stat, row.variant)


def _select_best_trials(rows: list[AggregateRow]) -> None:
    """Per (dataset, base label): keep only the trial with the best median on the primary metric."""
    by_base: dict[tuple[str, str], list[AggregateRow]] = defaultdict(list)
    for r in rows:
        if r.trial is not None:
            by_base[(r.dataset, r.base)].append(r)
    for (dataset, _), trs in by_base.items():
        primary = primary_metric(dataset, sorted({r.metric for r in rows if r.dataset == dataset and r.metric}))
        cand = [r for r in trs if r.metric == primary] if primary else []
        winner = min(cand, key=lambda r: _better_key(primary, r)).variant if cand else None
        for r in trs:
            r.selected = r.variant == winner


def _strictly_better(a: AggregateRow, b: AggregateRow, metric: str) -> bool:
    """``a``'s interval lies entirely on the better side of ``b``'s (one seed has no interval: never apart)."""
    if a.n_stat < 2 or b.n_stat < 2:
        return False
    return beats(a, b, metric)


def leaderboard(rows: list[AggregateRow], *, smoke: bool = False) -> Leaderboard:
    """Per dataset and group (``unconditional``/``conditional``), the selected cells ranked on the primary metric
    (ties where the 95% intervals overlap, see the module doc), and per group the mean rank of each label across
    the datasets it ran on (:class:`Leaderboard`); an entry is the row as a :class:`RankedRow`. ``smoke``: rank
    nothing (:func:`is_smoke`)."""
    out = Leaderboard(datasets={}, overall={}, smoke=smoke)
    ranks: dict[str, dict[str, dict[str, int]]] = defaultdict(dict)
    for dataset in sorted({r.dataset for r in rows}):
        drows = [r for r in rows if r.dataset == dataset]
        metric = primary_metric(dataset, sorted({r.metric for r in drows if r.metric}))
        if metric is None:
            continue
        trials = defaultdict(int)
        for r in drows:
            if r.trial is not None and r.metric == metric:
                trials[r.base] += 1
        base_rows = {r.baseline: r for r in drows if r.baseline and r.metric == metric}
        noise = base_rows.get("noise")
        groups: dict[str, list[RankedRow]] = {}
        for group, cond in (("unconditional", False), ("conditional", True)):
            cand = [r for r in drows if r.metric == metric and r.selected and r.conditional == cond
                    and r.median is not None and not r.baseline]
            cand.sort(key=lambda r: _better_key(metric, r))
            is_noise = {id(r): noise is not None and not beats(r, noise, metric) for r in cand}
            n_beat = sum(not v for v in is_noise.values())
            entries = []
            for r in cand:
                rank: int | None = 1 + sum(_strictly_better(o, r, metric) for o in cand if o is not r)
                if is_noise[id(r)]:
                    rank = max(rank, 1 + n_beat) if n_beat else None
                if smoke:
                    rank = None
                entries.append(RankedRow.of(r, rank=rank, noise=is_noise[id(r)], few_seeds=r.n_stat < MIN_SEEDS,
                                            trials=trials.get(r.base, 0)))
                ranks[group].setdefault(r.base, {})
                if rank is not None:
                    ranks[group][r.base][dataset] = rank
            if entries:
                groups[group] = entries
        out.datasets[dataset] = DatasetBoard(metric=metric, groups=groups, baselines=base_rows)
    for group, per_label in ranks.items():
        table = [OverallRank(label=lab, mean_rank=statistics.fmean(rk.values()) if rk else None, ranks=dict(rk))
                 for lab, rk in per_label.items()]
        table.sort(key=lambda e: (math.inf if e.mean_rank is None else e.mean_rank, -len(e.ranks), e.label))
        out.overall[group] = table
    return out


def protocol_line(runs: list[dict], dataset: str, metric: str) -> str:
    for r in runs:
        p = (r.get("protocol") or {}).get(metric)
        if r["dataset"] == dataset and p:
            keep = {k: v for k, v in p.items() if k not in ("metric", "seed")}
            return "; ".join(f"{k}: {v}" for k, v in keep.items())
    return ""
