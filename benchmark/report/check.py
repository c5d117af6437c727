"""Metric regression checks: bounds per variant × dataset × metric, compared with the latest results.

``results/thresholds.yaml``::

    nsgan:
      ring8:
        modes_covered: ">= 6"      # mean over the latest run of each seed
        high_quality: ">= 50"
      digits:
        domain_fd: "<= 40"

An optional top-level ``calibration`` mapping says what the bounds were measured on (``sweep``, ``seeds``,
``iterations`` per dataset, ``measured``): ``check`` prints it and flags checked runs whose seeds or budget differ
(:func:`calibration_mismatches`), since bounds of a 2,000-iteration, 3-seed sweep say little about a quick run.

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


@dataclass(frozen=True)
class BoundResult:
    """One bound checked (:func:`evaluate_bounds`): the mean ``value`` over the ``n`` latest runs of its seeds
    (NaN without results), whether it ``passed``, a ``note`` (``no results``), and the ``seeds`` and budgets
    (``iterations``) of the runs checked."""

    bound: Bound
    value: float
    n: int
    passed: bool
    note: str
    seeds: list[Any]
    iterations: list[Any]


def parse_thresholds(data: Any, source: str = "thresholds") -> list[Bound]:
    """Validate the nested mapping ``variant -> dataset -> metric -> "OP NUMBER"`` against the registries."""
    def known(kind: str, name: str, registry) -> None:
        if not isinstance(name, str) or name not in registry:
            raise ThresholdError(f"{source}: unknown {kind} {str(name)[:60]!r}; choose one of: {', '.join(sorted(registry))}")

    if not isinstance(data, dict) or not data:
        raise ThresholdError(f"{source}: expected a mapping variant -> dataset -> metric -> bound")
    bounds = []
    for variant, per_data in data.items():
        if variant == CALIBRATION:
            continue
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


CALIBRATION = "calibration"        # the top-level key of the bounds' provenance (not a variant)


def parse_calibration(data: Any, source: str = "thresholds") -> dict[str, Any]:
    """The ``calibration`` mapping of a thresholds file ({} when absent): ``seeds`` a list of ints, ``iterations``
    an int or a mapping dataset -> int."""
    cal = data.get(CALIBRATION) if isinstance(data, dict) else None
    if cal is None:
        return {}
    if not isinstance(cal, dict):
        raise ThresholdError(f"{source}: {CALIBRATION} must be a mapping (sweep, seeds, iterations, measured)")
    seeds, its = cal.get("seeds"), cal.get("iterations")
    if seeds is not None and not (isinstance(seeds, list) and all(isinstance(x, int) for x in seeds)):
        raise ThresholdError(f"{source}: {CALIBRATION}.seeds must be a list of integers, got {seeds!r}")
    if its is not None and not (isinstance(its, int) or (isinstance(its, dict)
                                                         and all(isinstance(v, int) for v in its.values()))):
        raise ThresholdError(f"{source}: {CALIBRATION}.iterations must be an integer or a mapping dataset -> "
                             f"integer, got {its!r}")
    return cal


def describe_calibration(cal: dict[str, Any]) -> str:
    """``sweep default, seeds [0, 1, 2], iterations ring8 2000 ...`` (one line)."""
    if not cal:
        return "not recorded (no `calibration` in the file)"
    its = cal.get("iterations")
    its = " ".join(f"{d} {n}" for d, n in its.items()) if isinstance(its, dict) else its
    parts = [f"sweep {cal['sweep']}" if cal.get("sweep") else "", f"seeds {cal['seeds']}" if cal.get("seeds") else "",
             f"iterations {its}" if its else "", f"measured {cal['measured']}" if cal.get("measured") else ""]
    return ", ".join(p for p in parts if p)


def calibration_mismatches(cal: dict[str, Any], rows: list[BoundResult]) -> list[str]:
    """How the runs :func:`evaluate_bounds` checked differ from the calibration: per dataset, budgets other
    than the calibrated one and seed sets other than the calibrated seeds (empty when they agree)."""
    if not cal:
        return []
    want_seeds, its = cal.get("seeds"), cal.get("iterations")
    budget: dict[str, set] = {}
    seeds: dict[str, set] = {}
    for r in rows:
        d = r.bound.dataset
        budget.setdefault(d, set()).update(r.iterations)
        seeds.setdefault(d, set()).add(tuple(r.seeds))
    out = []
    for d in sorted(budget):
        want = its.get(d) if isinstance(its, dict) else its
        other = sorted(n for n in budget[d] if n is not None and want is not None and n != want)
        if other:
            out.append(f"{d}: {', '.join(map(str, other))} iterations (bounds: {want})")
        if want_seeds is not None:
            diff = sorted({s for s in seeds[d] if s and list(s) != sorted(want_seeds)})
            if diff:
                out.append(f"{d}: seeds {', '.join(str(list(s)) for s in diff)} (bounds: {sorted(want_seeds)})")
    return out


REPO_THRESHOLDS = Path(__file__).resolve().parents[2] / "results" / "thresholds.yaml"


def thresholds_path(results_dir: str | Path, given: str | Path | None = None) -> Path:
    """The thresholds file a check of ``results_dir`` uses: ``given`` when set, else ``results_dir/thresholds.yaml``
    when it exists, else the repository's committed :data:`REPO_THRESHOLDS`."""
    if given:
        return Path(given)
    local = Path(results_dir) / "thresholds.yaml"
    return local if local.is_file() or not REPO_THRESHOLDS.is_file() else REPO_THRESHOLDS


def load_thresholds(path: str | Path) -> list[Bound]:
    return parse_thresholds(_read(path), str(path))


def load_calibration(path: str | Path) -> dict[str, Any]:
    """The file's ``calibration`` mapping (:func:`parse_calibration`)."""
    return parse_calibration(_read(path), str(path))


def _read(path: str | Path) -> Any:
    try:
        return read_yaml(path, "thresholds")
    except ValueError as e:
        raise ThresholdError(str(e)) from None


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


def evaluate_bounds(bounds: list[Bound], runs: list[dict], group: str | None = None) -> list[BoundResult]:
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
        rows.append(BoundResult(bound=b, value=value, n=len(vals), passed=bool(vals) and b.holds(value),
                                note="" if vals else "no results", seeds=sorted(r.get("seed") for r in picked),
                                iterations=sorted({(r.get("config") or {}).get("iterations") for r in picked},
                                                  key=str)))
    return rows


def format_table(rows: list[BoundResult]) -> str:
    lines = [f"{'variant':14s} {'dataset':10s} {'metric':16s} {'value':>10s}  {'bound':>10s}  {'n':>2s}  result",
             "-" * 78]
    for r in rows:
        b = r.bound
        val = "–" if math.isnan(r.value) else f"{r.value:.4g}"
        res = "pass" if r.passed else f"FAIL {r.note}".rstrip()
        lines.append(f"{b.variant:14s} {b.dataset:10s} {b.metric:16s} {val:>10s}  {b.op + ' ' + f'{b.value:g}':>10s}"
                     f"  {r.n:2d}  {res}")
    n_fail = sum(not r.passed for r in rows)
    lines.append(f"bounds: {len(rows) - n_fail} held, {n_fail} breached")
    return "\n".join(lines)
