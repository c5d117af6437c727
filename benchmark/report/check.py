"""Metric regression checks: bounds per variant × dataset × metric, compared with the latest results.

``results/thresholds.yaml``::

    nsgan:
      ring8:
        modes_covered: ">= 6"      # mean over the latest run of each seed
        high_quality: ">= 50"
      digits:
        domain_fd: "<= 40"

``python -m benchmark check --results-dir X`` reads ``X/thresholds.yaml`` when it exists, else the repository's
committed ``results/thresholds.yaml`` (found next to the package, not the current directory); ``--thresholds``
names another file (:func:`thresholds_path`).

Exit status of ``python -m benchmark check``: 0 when every bound holds, 1 when any is breached (a bound with
no results counts as breached: a check must not pass on missing data), 2 when the file is malformed, names
an unknown variant, dataset or metric, or a metric its dataset cannot be scored on (``fid`` on ring8).
"""
from __future__ import annotations

import math
import operator
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import datamodules
import models

from ..io import read_yaml
from ..score import METRIC_GROUPS, check_supported

OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
BOUND_RE = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")


class ThresholdError(ValueError):
    """The thresholds file is malformed or names something unknown (exit status 2)."""


@dataclass(frozen=True)
class Bound:
    variant: str
    dataset: str
    metric: str
    op: str
    value: float

    def holds(self, x: float) -> bool:
        return not math.isnan(x) and OPS[self.op](x, self.value)


def parse_thresholds(data: Any, source: str = "thresholds") -> list[Bound]:
    """Validate the nested mapping ``variant -> dataset -> metric -> "OP NUMBER"`` against the registries."""
    def known(kind: str, name: str, registry) -> None:
        if not isinstance(name, str) or name not in registry:
            raise ThresholdError(f"{source}: unknown {kind} {str(name)[:60]!r}; choose one of: {', '.join(sorted(registry))}")

    if not isinstance(data, dict) or not data:
        raise ThresholdError(f"{source}: expected a mapping variant -> dataset -> metric -> bound")
    bounds = []
    for variant, per_data in data.items():
        known("variant", variant, models.VARIANTS)
        if not isinstance(per_data, dict) or not per_data:
            raise ThresholdError(f"{source}: {variant}: expected a non-empty mapping dataset -> metric -> bound "
                                 "(an empty entry checks nothing: delete it or give a bound)")
        for dataset, per_metric in per_data.items():
            known("dataset", dataset, datamodules.DATAMODULES)
            if not isinstance(per_metric, dict) or not per_metric:
                raise ThresholdError(f"{source}: {variant}/{dataset}: expected a non-empty mapping metric -> bound "
                                     "(an empty cell checks nothing: delete it or give a bound)")
            for metric, spec in per_metric.items():
                known("metric", metric, METRIC_GROUPS)
                try:                        # fid on ring8 can never hold: a usage error, not a FAIL
                    check_supported([metric], datamodules.DATAMODULES[dataset])
                except ValueError as e:
                    raise ThresholdError(f"{source}: {variant}/{dataset}/{metric}: {e}") from None
                m = BOUND_RE.match(str(spec))
                if not m:
                    raise ThresholdError(f"{source}: {variant}/{dataset}/{metric}: bound {spec!r} must look like "
                                         f"'>= 6' or '<= 40' (operators: {', '.join(OPS)})")
                value = float(m.group(2))
                if not math.isfinite(value):
                    raise ThresholdError(f"{source}: {variant}/{dataset}/{metric}: bound {spec!r} is not a finite "
                                         "number (it overflows a float); give a finite bound")
                bounds.append(Bound(variant, dataset, metric, m.group(1), value))
    return bounds


REPO_THRESHOLDS = Path(__file__).resolve().parents[2] / "results" / "thresholds.yaml"


def thresholds_path(results_dir: str | Path, given: str | Path | None = None) -> Path:
    """The thresholds file a check of ``results_dir`` uses: ``given`` when set, else ``results_dir/thresholds.yaml``
    when it exists, else the repository's committed :data:`REPO_THRESHOLDS`."""
    if given:
        return Path(given)
    local = Path(results_dir) / "thresholds.yaml"
    return local if local.is_file() or not REPO_THRESHOLDS.is_file() else REPO_THRESHOLDS


def load_thresholds(path: str | Path) -> list[Bound]:
    try:
        data = read_yaml(path, "thresholds")
    except ValueError as e:
        raise ThresholdError(str(e)) from None
    return parse_thresholds(data, str(path))


def latest_per_seed(runs: list[dict], variant: str, dataset: str, group: str | None = None) -> list[dict]:
    """The most recent run of each seed for a variant and dataset (optionally within one sweep group)."""
    latest: dict[Any, dict] = {}
    for r in runs:
        if r.get("variant") != variant or r.get("dataset") != dataset:
            continue
        if group is not None and r.get("group") != group:
            continue
        seed = r.get("seed")
        if seed not in latest or r.get("finished_at", "") >= latest[seed].get("finished_at", ""):
            latest[seed] = r
    return list(latest.values())


def evaluate_bounds(bounds: list[Bound], runs: list[dict], group: str | None = None) -> list[dict[str, Any]]:
    """One row per bound: the mean of the metric over the latest run of each seed, and pass/fail.

    A diverged or failed run contributes NaN (so the bound fails): a run that no longer converges is exactly
    the regression this check exists for.
    """
    rows = []
    for b in bounds:
        picked = latest_per_seed(runs, b.variant, b.dataset, group)
        vals = []
        for r in picked:
            v = (r.get("metrics") or {}).get(b.metric) if r.get("status") == "completed" else None
            vals.append(float("nan") if v is None else float(v))
        value = statistics.fmean(vals) if vals else float("nan")
        rows.append({"bound": b, "value": value, "n": len(vals), "passed": bool(vals) and b.holds(value),
                     "note": "" if vals else "no results"})
    return rows


def format_table(rows: list[dict]) -> str:
    lines = [f"{'variant':14s} {'dataset':10s} {'metric':16s} {'value':>10s}  {'bound':>10s}  {'n':>2s}  result",
             "-" * 78]
    for r in rows:
        b = r["bound"]
        val = "–" if math.isnan(r["value"]) else f"{r['value']:.4g}"
        res = "pass" if r["passed"] else f"FAIL {r['note']}".rstrip()
        lines.append(f"{b.variant:14s} {b.dataset:10s} {b.metric:16s} {val:>10s}  {b.op + ' ' + f'{b.value:g}':>10s}"
                     f"  {r['n']:2d}  {res}")
    n_fail = sum(not r["passed"] for r in rows)
    lines.append(f"bounds: {len(rows) - n_fail} held, {n_fail} breached")
    return "\n".join(lines)
