"""A W&B Report of a results directory, built with ``wandb-workspaces`` (``python -m benchmark report --wandb-report``).

Per dataset, under a heading naming its primary metric (:func:`benchmark.report.aggregate.primary_metric`):

- a **leaderboard** panel: the variants ranked by the mean of the primary metric over seeds (the same aggregated
  rows as ``summary.md``), with std, n, the run statuses and the best run;
- the **primary metric vs GAN iteration** (``eval/<metric>`` over ``iteration``), grouped by ``run.variant``
  (mean and standard error over seeds);
- the **sample media** (``samples``) of every run;
- the run set itself (its table sorted by ``final/<metric>``): the W&B training runs of the directory's run ids
  (W&B name = run id, job type ``train``; every attempt of a configuration has the same name).

The report is built offline (no network call) and saved with ``report.save()`` only when W&B is online with an
API key (``WANDB_API_KEY`` or ``wandb login``); otherwise the command says it was built and not saved. The
project is ``--project`` (default ``ganbench``, as for ``run``), the entity ``WANDB_ENTITY`` or the key's
default entity.
"""
from __future__ import annotations

import math
import os
from typing import Any

from ..train.tracking import call_within, wandb_key_available, wandb_mode
from .aggregate import aggregate, arrow, fmt, lower_is_better, primary_metric

SAVE_TIMEOUT_S = 120.0          # report.save() makes a few GraphQL calls; a dead network fails after this
FINISHED = ("completed", "diverged")


def leaderboard(rows: list[dict], dataset: str) -> tuple[str | None, list[dict]]:
    """``(primary metric, the dataset's rows of that metric ranked best first)``; a row without a finite mean
    (every run diverged or failed, an infinite score) ranks last."""
    drows = [r for r in rows if r["dataset"] == dataset]
    metric = primary_metric(dataset, sorted({r["metric"] for r in drows if r["metric"]}))
    sign = 1.0 if lower_is_better(metric or "") else -1.0

    def key(r: dict) -> tuple[bool, float, str]:
        mean = r["mean"]
        ok = mean is not None and math.isfinite(mean)
        return (not ok, sign * mean if ok else 0.0, r["variant"])

    ranked = sorted((r for r in drows if r["metric"] == metric), key=key)
    # variants without any score of the metric (all failed) still appear, last
    scored = {r["variant"] for r in ranked}
    ranked += sorted(({**r, "metric": metric, "mean": None, "std": None, "n": 0, "best_run": None}
                      for r in drows if r["variant"] not in scored and not r["metric"]), key=lambda r: r["variant"])
    return metric, ranked


def leaderboard_markdown(metric: str | None, ranked: list[dict]) -> str:
    if metric is None:
        return "No run of this dataset was scored."
    lines = [f"| rank | variant | {metric} {arrow(metric)} (mean ± std) | n | runs (c/d/f) | best run |",
             "|---|---|---|---|---|---|"]
    for i, r in enumerate(ranked, 1):
        value = "–" if r["mean"] is None else f"{fmt(r['mean'])} ± {fmt(r['std'], 2)}"
        lines.append(f"| {i} | {r['variant']} | {value} | {r['n']} | {r['completed']}/{r['diverged']}/"
                     f"{r['failed']} | {r['best_run'] or '–'} |")
    return "\n".join(lines)


def build_wandb_report(runs: list[dict], rows: list[dict] | None = None, *, project: str = "ganbench",
                       entity: str = "", title: str | None = None) -> Any:
    """The ``wandb_workspaces.reports.v2.Report`` of ``runs`` (run records); builds only, no network call.

    Raises:
        ImportError: ``wandb-workspaces`` is not installed (the message names the fix).
    """
    try:
        import wandb_workspaces.reports.v2 as wr
        from wandb_workspaces import expr
    except ImportError as e:
        raise ImportError(f"W&B Reports need the wandb-workspaces package ({e}): pip install wandb-workspaces") \
            from None
    rows = aggregate(runs) if rows is None else rows
    groups = sorted({r.get("group") or "" for r in runs} - {""})
    title = title or f"GANBench: {', '.join(groups) if groups else 'all runs'}"
    blocks: list[Any] = [wr.P(f"{len(runs)} runs of {len({r['variant'] for r in runs})} variants on "
                              f"{len({r['dataset'] for r in runs})} datasets, built from the run JSONs by "
                              f"`python -m benchmark report --wandb-report`. Each leaderboard ranks the variants by "
                              f"the dataset's primary metric, mean ± std over seeds.")]
    for dataset in sorted({r["dataset"] for r in runs}):
        metric, ranked = leaderboard(rows, dataset)
        names = sorted({r["run_id"] for r in runs if r["dataset"] == dataset and r.get("status") in FINISHED})
        runset = wr.Runset(entity=entity, project=project, name=dataset,
                           filters=[expr.Metric("Name").isin(names or ["-"]), expr.Metric("JobType") == "train"],
                           order=[wr.OrderBy(wr.SummaryMetric(f"final/{metric}"),
                                             ascending=lower_is_better(metric))] if metric else [])
        panels: list[Any] = [wr.MarkdownPanel(markdown=f"**Leaderboard: {dataset}**\n\n"
                                              + leaderboard_markdown(metric, ranked),
                                              layout=wr.Layout(x=0, y=0, w=24, h=2 + len(ranked)))]
        if metric:
            panels.append(wr.LinePlot(title=f"{metric} {arrow(metric)} vs GAN iteration", x="iteration",
                                      y=[f"eval/{metric}"], groupby=wr.Config("run.variant"), groupby_aggfunc="mean",
                                      groupby_rangefunc="stderr", title_x="GAN iteration", title_y=metric,
                                      layout=wr.Layout(x=0, y=2 + len(ranked), w=12, h=8)))
        panels.append(wr.MediaBrowser(title=f"samples on {dataset}", media_keys=["samples"], num_columns=4,
                                      layout=wr.Layout(x=12, y=2 + len(ranked), w=12, h=8)))
        blocks += [wr.H2(f"{dataset}: ranked by {metric} {arrow(metric)}" if metric else dataset),
                   wr.PanelGrid(runsets=[runset], panels=panels)]
    return wr.Report(project=project, entity=entity, title=title[:128],
                     description="Which objective wins where: GANBench leaderboards, curves and samples.",
                     blocks=blocks, width="fluid")


def can_save() -> bool:
    """Saving needs W&B online (not ``WANDB_MODE=offline/disabled``) and an API key."""
    return wandb_mode("auto") == "online" and wandb_key_available()


def publish_wandb_report(runs: list[dict], *, project: str = "ganbench") -> str | None:
    """Build the report and save it when :func:`can_save`; returns its URL, or ``None`` (printed why)."""
    saving = can_save()
    entity = os.environ.get("WANDB_ENTITY", "")
    if saving and not entity:
        import wandb

        entity = call_within(lambda: wandb.Api().default_entity, SAVE_TIMEOUT_S, lambda _: None) or ""
    report = build_wandb_report(runs, project=project, entity=entity)
    panels = sum(len(b.panels) for b in report.blocks if hasattr(b, "panels"))
    built = f"built W&B report {report.title!r} ({panels} panels in project {project!r})"
    if not saving:
        print(f"{built}; not saved: no W&B API key or W&B is offline (set WANDB_API_KEY or run `wandb login`, and "
              f"leave WANDB_MODE unset or online)")
        return None
    call_within(report.save, SAVE_TIMEOUT_S, lambda _: None)
    print(f"{built}; saved: {report.url}")
    return report.url
