"""Reference samplers scored with a dataset's own metric protocol: what a trained generator must beat.

Per dataset, :data:`BASELINE_DRAWS` draws of each sampler, scored by the registry exactly as a run's samples are
(the same metrics, the same sample counts, the same reference statistics):

- ``true``: a fresh sample of the data: for a mixture, points drawn from the known modes with a seed that is
  neither the training set's nor the metric's reference; for images, the training split resampled. The best a
  generator can do at this sample size.
- ``noise``: a sampler that ignores the data: uniform over the training data's bounding box (points), or each
  pixel drawn from a Gaussian with that pixel's mean and std over the training split, clipped to the data range
  (images). A cell whose interval overlaps this baseline's is "not better than noise" (:mod:`.aggregate`).
- ``collapsed``: every sample at one mode: one mixture component with its true spread (draw ``d`` uses mode
  ``d``), or one training image repeated.

Scoring a dataset's baselines costs what scoring one run costs, times 3 × :data:`BASELINE_DRAWS` (the domain
classifier and Inception features are the metrics' own caches); the values are cached in
``RESULTS_DIR/baselines.json``, keyed by the dataset, its metrics, the sample counts and :data:`BASELINE_VERSION`.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor

from datamodules import get_datamodule

from .. import score
from ..io import atomic_write_json, restore_nonfinite

BASELINES = {"true": "true data (a fresh sample)", "noise": "noise (ignores the data)",
             "collapsed": "collapsed (one mode)"}
BASELINE_DRAWS = 5
BASELINE_SEED = 10_000          # draw d uses seed BASELINE_SEED + d (never a run's seed or a metric's reference)
BASELINE_VERSION = 1            # bump when a sampler changes (invalidates the caches)


def samplers(dm) -> dict[str, Callable[[int, int], Tensor]]:
    """``{baseline: sample(n, draw) -> Tensor}`` in the data's range (see the module doc); ``dm`` is set up."""
    x = dm.train_x
    if dm.kind == "points":
        lo, hi = x.min(dim=0).values, x.max(dim=0).values
        modes = dm.modes()

        def true(n, d):
            return dm.sample(n, seed=BASELINE_SEED + d)[0]

        def noise(n, d):
            g = torch.Generator().manual_seed(BASELINE_SEED + d)
            return lo + (hi - lo) * torch.rand(n, x.shape[1], generator=g)

        def collapsed(n, d):
            g = torch.Generator().manual_seed(BASELINE_SEED + d)
            return modes[d % len(modes)] + dm.std * torch.randn(n, x.shape[1], generator=g)
    else:
        from datamodules.base import scale_to_unit

        unit = scale_to_unit(x)
        mean, std = unit.mean(dim=0), unit.std(dim=0)

        def true(n, d):
            return dm.reference(n, seed=BASELINE_SEED + d)[0]

        def noise(n, d):
            g = torch.Generator().manual_seed(BASELINE_SEED + d)
            return (mean + std * torch.randn(n, *mean.shape, generator=g)).clamp(-1, 1)

        def collapsed(n, d):
            g = torch.Generator().manual_seed(BASELINE_SEED + d)
            i = int(torch.randint(unit.shape[0], (1,), generator=g))
            return unit[i].expand(n, *unit.shape[1:]).clone()
    return {"true": true, "noise": noise, "collapsed": collapsed}


def cache_key(dataset: str, metrics: list[str], draws: int) -> str:
    counts = {m: score.get_metric_group(m).num_samples for m in metrics}
    blob = json.dumps({"dataset": dataset, "metrics": sorted(metrics), "draws": draws, "counts": counts,
                       "version": BASELINE_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def score_baselines(dataset: str, metrics: list[str], draws: int = BASELINE_DRAWS) -> dict[str, dict[str, list]]:
    """``{baseline: {metric: [value per draw]}}`` of ``dataset`` on ``metrics`` (see the module doc)."""
    dm = get_datamodule(dataset)()
    dm.setup()
    out: dict[str, dict[str, list]] = {}
    for name, sample in samplers(dm).items():
        per: dict[str, list] = {m: [] for m in metrics}
        for d in range(draws):
            values, _ = score.evaluate(metrics, lambda n, labels: sample(n, d), dm, seed=d)
            for m in metrics:
                v = values.get(m)
                per[m].append(None if v is None else float(v))
        out[name] = per
    return out


def dataset_baselines(dataset: str, metrics: list[str], results_dir: str | Path | None = None,
                      draws: int = BASELINE_DRAWS) -> dict[str, Any]:
    """The baselines of ``dataset``, read from ``results_dir/baselines.json`` when its key matches, else scored
    and cached there. ``{"values": {baseline: {metric: [...]}}}`` or ``{"unavailable": reason}`` (a dataset
    whose data is not on this machine, a metric that cannot be scored here)."""
    metrics = [m for m in metrics if m in score.METRIC_GROUPS]
    key = cache_key(dataset, metrics, draws)
    path = Path(results_dir) / "baselines.json" if results_dir is not None else None
    cache: dict[str, Any] = {}
    if path is not None and path.exists():
        try:
            cache = restore_nonfinite(json.loads(path.read_text()))    # inf/NaN scores: io's `nonfinite`
        except (OSError, ValueError):
            cache = {}
    hit = cache.get(dataset)
    if isinstance(hit, dict) and hit.get("key") == key and "values" in hit:
        return {"values": hit["values"]}
    try:
        values = score_baselines(dataset, metrics, draws)
    except Exception as e:           # missing data or metric weights: the report says so instead of failing
        return {"unavailable": f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"}
    if path is not None:
        cache[dataset] = {"key": key, "draws": draws, "values": values}
        try:
            atomic_write_json(path, cache)
        except OSError:
            pass
    return {"values": values}


def baselines_for(runs: list[dict], results_dir: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """``{dataset: dataset_baselines(...)}`` for every registered dataset the runs scored, on their metrics."""
    out = {}
    for dataset in sorted({r["dataset"] for r in runs}):
        try:
            get_datamodule(dataset)
        except KeyError:
            continue
        metrics = sorted({m for r in runs if r["dataset"] == dataset and r.get("status") == "completed"
                          for m, v in (r.get("metrics") or {}).items() if v is not None})
        if metrics:
            out[dataset] = dataset_baselines(dataset, metrics, results_dir)
    return out
