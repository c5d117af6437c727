"""Reports derived from the run JSONs alone (never hand-edited).

``build_report(results_dir)`` writes ``summary.md`` and ``summary.csv`` (variant × dataset: mean ± std over
seeds, number of runs, best run, the protocol under each metric, published numbers beside ours where the
protocol matches; :mod:`.markdown`), a sample plot per run under ``samples/`` and ``report.html`` (the same
tables with plots, :mod:`.html`, its figures drawn by :mod:`.figures`), and logs the comparison to W&B
(:mod:`.wandb_report`). The rows come from :mod:`.aggregate`, the
published numbers from :mod:`.references`; :mod:`.check` compares the results with regression thresholds.
"""
from __future__ import annotations

from pathlib import Path


from datamodules import get_datamodule

from ..errors import UsageError
from ..io import atomic_write_text, load_runs, load_samples
from ..samples import save_sample_plot
from .aggregate import aggregate
from .baselines import baselines_for
from .html import build_html
from .markdown import summary_csv, summary_markdown
from .wandb_report import log_wandb_table


def ensure_sample_plots(runs: list[dict], results_dir: Path) -> list[Path]:
    """Re-draw any run's sample plot that is missing, from its kept samples."""
    made = []
    for r in runs:
        if not r.get("samples"):
            continue
        png = results_dir / "samples" / f"{r['run_id']}.png"
        if png.exists() or (samples := load_samples(results_dir, r["samples"])) is None:
            continue
        try:
            dm_cls = get_datamodule(r["dataset"])
        except KeyError:
            continue
        modes = dm_cls.known_modes().numpy() if dm_cls.has_modes else None
        made.append(save_sample_plot(samples, dm_cls.kind, png, modes=modes,
                                     title=f"{r['variant']} on {r['dataset']}, seed {r['seed']}"))
    return made


def check_outputs(paths: list[Path]) -> None:
    """``UsageError`` naming the first output that cannot be (re)written: a directory or another non-file in its
    place, or a directory where it lives that is not writable."""
    import os

    for p in paths:
        if p.exists() and not p.is_file():
            raise UsageError(f"{p} exists and is not a file (a directory?): move it away, then re-run the report")
        if not os.access(p.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{p.parent} is not writable, so {p.name} cannot be written: make it writable "
                             "(chmod u+w) or copy the results elsewhere")


def build_report(results_dir: str | Path = "results", *, baselines: bool = True, wandb: str = "disabled") -> list[Path]:
    """Write ``summary.md``, ``summary.csv``, ``report.html`` (and missing sample plots) and, when ``wandb`` is
    not ``disabled`` (the default: a report is not a training run, and every call would add one), log the
    comparison as a ``wandb.Table`` in one W&B run of job type ``report``; return the written paths.
    ``baselines``: score (or read from ``baselines.json``) each dataset's true-data, noise and collapsed
    baselines (:mod:`.baselines`)."""
    results_dir = Path(results_dir)
    runs = load_runs(results_dir)
    if not runs:
        raise FileNotFoundError(f"no run files under {results_dir / 'runs'}: run a sweep first (./run_all.sh)")
    md, cs, page = results_dir / "summary.md", results_dir / "summary.csv", results_dir / "report.html"
    check_outputs([md, cs, page])               # before anything is rewritten: all three or none
    base = baselines_for(runs, results_dir) if baselines else {}
    for dataset, b in base.items():
        if "unavailable" in b:
            print(f"warning: no baselines for {dataset} ({b['unavailable']})")
    rows = aggregate(runs, base)
    md_text, csv_text = summary_markdown(runs, rows), summary_csv(rows)
    made = ensure_sample_plots(runs, results_dir)
    html_text = build_html(runs, rows, results_dir)
    atomic_write_text(md, md_text)
    atomic_write_text(cs, csv_text)
    html = atomic_write_text(page, html_text)
    try:
        if wandb != "disabled":
            log_wandb_table(runs, rows, mode=wandb)
    except Exception as e:          # tracking must never cost the report
        print(f"warning: W&B comparison table not logged: {e}")
    return [md, cs, html, *made]
