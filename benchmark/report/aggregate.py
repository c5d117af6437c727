"""Run records -> comparison rows: one row per (dataset, run label, metric) with mean, std, n and the best run."""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from typing import Any

from datamodules import get_datamodule

from .. import score
from ..score import METRIC_GROUPS

def lower_is_better(metric: str) -> bool:
    """The direction of a registered metric (an unregistered one, from an old run file, counts as higher)."""
    return metric in METRIC_GROUPS and score.lower_is_better(metric)


def arrow(metric: str) -> str:
    return "↓" if lower_is_better(metric) else "↑"


def primary_metric(dataset: str, metrics: list[str]) -> str | None:
    """The dataset's primary metric (declared by its datamodule) when its runs scored it, else their first."""
    try:
        declared = get_datamodule(dataset).primary_metric()
    except KeyError:
        declared = None
    return declared if declared in metrics else (metrics[0] if metrics else None)
IGNORED_KEYS = {"seed", "group"}


def run_labels(runs: list[dict]) -> dict[str, str]:
    """Label each run with its variant plus the options that vary among runs of that variant and dataset
    (e.g. ``nsgan [minibatch_kernels=16]``), so a variant with and without a trick are separate rows."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        by_cell[(r["variant"], r["dataset"])].append(r)
    labels = {}
    for (variant, _), cell in by_cell.items():
        keys = sorted({k for r in cell for k in r.get("config", {})} - IGNORED_KEYS)
        varying = [k for k in keys if len({repr(r.get("config", {}).get(k)) for r in cell}) > 1]
        for r in cell:
            extra = ", ".join(f"{k}={r['config'].get(k)}" for k in varying)
            labels[r["run_id"]] = f"{variant} [{extra}]" if extra else variant
    return labels


def fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def aggregate(runs: list[dict]) -> list[dict[str, Any]]:
    """One row per (dataset, label, metric): mean, std (over seeds), n, best value and best run id."""
    labels = run_labels(runs)
    cells: dict[tuple[str, str, str], list[tuple[float, str]]] = defaultdict(list)
    status: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        key = (r["dataset"], labels[r["run_id"]])
        status[key][r.get("status", "failed")] += 1
        for m, v in (r.get("metrics") or {}).items():
            if v is not None and r.get("status") == "completed":
                cells[(r["dataset"], labels[r["run_id"]], m)].append((float(v), r["run_id"]))
    rows = []
    for (dataset, label), counts in sorted(status.items()):
        metric_names = sorted({m for (d, l, m) in cells if d == dataset and l == label})
        for m in metric_names or [""]:
            vals = cells.get((dataset, label, m), [])
            finite = [v for v, _ in vals if math.isfinite(v)]
            best = None
            if vals:
                pick = min if lower_is_better(m) else max
                best = pick(vals, key=lambda t: t[0])
            rows.append({"dataset": dataset, "variant": label, "metric": m,
                         # an infinite value (e.g. reverse KL with no high-quality sample) makes the mean
                         # infinite: averaging only the finite seeds would hide the failed ones
                         "mean": (statistics.fmean(finite) if len(finite) == len(vals) else math.inf)
                         if vals else None,
                         "std": (statistics.stdev(finite) if len(finite) > 1 else 0.0)
                         if vals and len(finite) == len(vals) else None,
                         "n": len(vals), "best": best[0] if best else None, "best_run": best[1] if best else None,
                         "completed": counts.get("completed", 0), "diverged": counts.get("diverged", 0),
                         "failed": counts.get("failed", 0)})
    return rows


def protocol_line(runs: list[dict], dataset: str, metric: str) -> str:
    for r in runs:
        p = (r.get("protocol") or {}).get(metric)
        if r["dataset"] == dataset and p:
            keep = {k: v for k, v in p.items() if k not in ("metric", "seed")}
            return "; ".join(f"{k}: {v}" for k, v in keep.items())
    return ""


