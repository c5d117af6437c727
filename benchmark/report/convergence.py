"""Did the runs converge? A table that ranks objectives at a budget where they are still improving ranks their
speed, not the objectives: flag it.

From the in-training scores (``eval/<metric>`` in each run's history, ``eval_every`` > 0), per (dataset, variant)
cell and metric: each seed's *late gain* is its last in-training score minus its score at 80% of its training
(the latest point at or before it), oriented so that positive means better. A cell is **still improving** when the
median late gain over its seeds exceeds the seed spread (the standard deviation of the seeds' last scores; with
one seed, any gain). Both scores come from the same small in-training sample, so the comparison is like with like.
"""
from __future__ import annotations

import math
import statistics
from collections import defaultdict
from dataclasses import dataclass

from .aggregate import lower_is_better

LATE_FRACTION = 0.8      # "the last 20% of training"


@dataclass
class CellConvergence:
    dataset: str
    variant: str
    metric: str
    gain: float          # median late gain over seeds (positive = better)
    spread: float        # std of the seeds' last in-training scores (0 with one seed)
    seeds: int

    @property
    def improving(self) -> bool:
        return self.gain > self.spread and self.gain > 0


def late_gain(history: list[dict], metric: str) -> tuple[float, float] | None:
    """(late gain, last score) of one run's ``eval/<metric>`` curve, or None without two usable points."""
    key = f"eval/{metric}"
    points = [(h["iteration"], h[key]) for h in history
              if isinstance(h.get(key), (int, float)) and math.isfinite(h[key]) and "iteration" in h]
    if len(points) < 2:
        return None
    last_it, last = points[-1]
    early = [v for it, v in points if it <= LATE_FRACTION * last_it]
    if not early:
        return None
    gain = last - early[-1]
    return (-gain if lower_is_better(metric) else gain), last


def convergence(runs: list[dict]) -> list[CellConvergence]:
    """One entry per (dataset, variant, metric) with in-training scores, from completed runs."""
    cells: dict[tuple[str, str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in runs:
        if r.get("status") != "completed":
            continue
        metrics = sorted({k[5:] for h in r.get("history") or [] for k in h if k.startswith("eval/")})
        for m in metrics:
            g = late_gain(r["history"], m)
            if g is not None:
                cells[(r["dataset"], r["variant"], m)].append(g)
    out = []
    for (dataset, variant, metric), gains in sorted(cells.items()):
        lasts = [last for _, last in gains]
        spread = statistics.stdev(lasts) if len(lasts) > 1 else 0.0
        out.append(CellConvergence(dataset, variant, metric, statistics.median(g for g, _ in gains), spread,
                                   len(gains)))
    return out


def convergence_note(runs: list[dict], dataset: str, primary: str | None) -> str:
    """One sentence for a dataset's section: converged, still improving (which variants, by how much), or
    unknown (no in-training scores)."""
    cells = [c for c in convergence([r for r in runs if r.get("dataset") == dataset])
             if c.metric == primary]
    if not cells:
        return (f"Convergence: unknown (no in-training {primary} scores; run with `eval_every` > 0 to see "
                "whether the budget is long enough).")
    still = [c for c in cells if c.improving]
    if not still:
        return (f"Convergence: every variant's in-training {primary} changed by no more than its seed spread "
                f"over the last {100 - LATE_FRACTION * 100:.0f}% of training ({len(cells)} variants checked).")
    listed = ", ".join(f"{c.variant} ({c.gain:+.3g} vs spread {c.spread:.3g})" for c in still)
    return (f"**Not converged**: {len(still)} of {len(cells)} variants were still improving {primary} by more "
            f"than their seed spread over the last {100 - LATE_FRACTION * 100:.0f}% of training: {listed}. "
            "This table ranks speed at this budget as much as the objectives; a longer budget would tell.")
