"""Reports derived from the run JSONs alone (never hand-edited).

``build_report(results_dir)`` writes ``summary.md`` and ``summary.csv`` (variant × dataset: mean ± std over
seeds, number of runs, best run, the protocol under each metric, published numbers beside ours where the
protocol matches; :mod:`.markdown`), a sample plot per run under ``samples/`` and ``report.html`` (the same
tables with plots, :mod:`.html`), and logs the comparison to W&B. The rows come from :mod:`.aggregate`, the
published numbers from :mod:`.references`; :mod:`.check` compares the results with regression thresholds.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from datamodules import get_datamodule

from ..io import atomic_write_text, load_runs
from ..samples import save_sample_plot
from .aggregate import aggregate
from .html import log_wandb_table, write_html_report
from .markdown import summary_csv, summary_markdown


def ensure_sample_plots(runs: list[dict], results_dir: Path) -> list[Path]:
    """Re-draw any run's sample plot that is missing, from its kept samples."""
    made = []
    for r in runs:
        if not r.get("samples"):
            continue
        png = results_dir / "samples" / f"{r['run_id']}.png"
        npy = results_dir / r["samples"]
        if png.exists() or not npy.exists():
            continue
        dm_cls = get_datamodule(r["dataset"])
        modes = dm_cls.modes().numpy() if hasattr(dm_cls, "modes") else None
        made.append(save_sample_plot(np.load(npy), dm_cls.kind, png, modes=modes,
                                     title=f"{r['variant']} on {r['dataset']}, seed {r['seed']}"))
    return made


def build_report(results_dir: str | Path = "results", *, wandb: str = "disabled") -> list[Path]:
    """Write ``summary.md``, ``summary.csv``, ``report.html`` (and missing sample plots) and, when ``wandb`` is
    not ``disabled`` (the default: a report is not a training run, and every call would add one), log the
    comparison as a ``wandb.Table`` in one W&B run of job type ``report``; return the written paths."""
    results_dir = Path(results_dir)
    runs = load_runs(results_dir)
    if not runs:
        raise FileNotFoundError(f"no run files under {results_dir / 'runs'}: run a sweep first (./run_all.sh)")
    rows = aggregate(runs)
    md, cs = results_dir / "summary.md", results_dir / "summary.csv"
    atomic_write_text(md, summary_markdown(runs, rows))
    atomic_write_text(cs, summary_csv(rows))
    made = ensure_sample_plots(runs, results_dir)
    html = write_html_report(results_dir, runs, rows)
    try:
        if wandb != "disabled":
            log_wandb_table(runs, rows, mode=wandb)
    except Exception as e:          # tracking must never cost the report
        print(f"warning: W&B comparison table not logged: {e}")
    return [md, cs, html, *made]
