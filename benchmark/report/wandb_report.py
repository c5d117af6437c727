"""The W&B outputs of ``python -m benchmark report``: the comparison table (``--wandb``) and the W&B Report
(``--wandb-report``), both from the aggregated rows of :mod:`benchmark.report.aggregate`.

:func:`log_wandb_table` logs the comparison (:data:`TABLE_COLUMNS`, the rows of ``summary.csv`` with the protocol
and the published numbers) as a ``wandb.Table`` in one W&B run of job type ``report``.

The W&B Report of a results directory is built with ``wandb-workspaces`` (:func:`build_wandb_report`).
Per dataset, under a heading naming its primary metric (:func:`benchmark.report.aggregate.primary_metric`):

- a **leaderboard** panel: the dataset's part of :func:`benchmark.report.aggregate.leaderboard` (as in
  ``summary.md``: median and 95% bootstrap interval over seeds, ranks that tie where intervals overlap,
  conditional variants ranked apart, collapsed/diverged/failed seeds noted);
- the **primary metric vs GAN iteration** (``eval/<metric>`` over ``iteration``), grouped by ``run.variant``
  (mean and standard error over seeds);
- the **sample media** (``samples``) of every run;
- the run set itself (its table sorted by ``final/<metric>``): the W&B training runs of the directory's run ids
  (W&B name = run id, job type ``train``; every attempt of a configuration has the same name).

The report is built offline (no network call), kept as its W&B view spec in ``RESULTS_DIR/wandb_report.json``
(:func:`write_report_file`), and saved with ``report.save()`` only when W&B is online with an API key
(``WANDB_API_KEY`` or ``wandb login``); otherwise the command says so, and ``python -m benchmark report
--publish-wandb-report RESULTS_DIR/wandb_report.json`` publishes the kept file later (:func:`publish_report_file`). The
project is ``--project`` (default ``ganbench``, as for ``run``), the entity ``WANDB_ENTITY`` or the key's
default entity.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..io import atomic_write_text
from ..train.tracking import call_within, wandb_key_available, wandb_mode
from .aggregate import (
    AggregateRow,
    Leaderboard,
    aggregate,
    arrow,
    finite_number,
    fmt_ci,
    leaderboard,
    lower_is_better,
    protocol_line,
    run_labels,
)
from .markdown import GROUP_TITLES, STATS_NOTE, entry_notes, rank_text
from .references import matching_references

SAVE_TIMEOUT_S = 120.0          # report.save() makes a few GraphQL calls; a dead network fails after this
FINISHED = ("completed", "diverged")


# ------------------------------------------------------------------------------------------- comparison table
TABLE_COLUMNS = ["dataset", "variant", "metric", "median", "ci_low", "ci_high", "mean", "std", "n", "best", "best_run",
                 "completed", "diverged", "failed", "collapsed", "conditional", "selected", "protocol", "published"]


def comparison_table_rows(runs: list[dict], rows: list[AggregateRow]) -> list[list[Any]]:
    """The comparison as rows of :data:`TABLE_COLUMNS` (published numbers only where the protocol matches)."""
    labels = run_labels(runs)
    base = {labels[r["run_id"]]: r["variant"] for r in runs}
    refs = {d: matching_references(runs, d) for d in {r.dataset for r in rows}}
    out = []
    for r in rows:
        pub = "; ".join(f"{ref['source']}: {ref[r.metric]}" for ref, ok in refs[r.dataset]
                        if r.metric in ok and ref.get("variant") == base.get(r.variant))
        num = [v if finite_number(v) else None                                         # W&B rejects inf/NaN
               for v in (r.median, r.ci_low, r.ci_high, r.mean, r.std, r.best)]
        out.append([r.dataset, r.variant, r.metric, *num[:5], r.n, num[5], r.best_run or "", r.completed,
                    r.diverged, r.failed, r.collapsed, r.conditional, r.selected,
                    protocol_line(runs, r.dataset, r.metric) if r.metric else "", pub])
    return out


def log_wandb_table(runs: list[dict], rows: list[AggregateRow], *, project: str | None = None,
                    mode: str = "auto") -> str | None:
    """Log the comparison as a ``wandb.Table`` ("comparison") in one W&B run of job type ``report``, in the sweep's
    group (the group of the most recently finished run). Offline without ``WANDB_API_KEY``; skipped (returns
    ``None``) when ``WANDB_MODE=disabled``. Returns the W&B run's directory."""
    mode = wandb_mode(mode)
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    import wandb

    latest = max(runs, key=lambda r: r.get("finished_at") or "")
    group = latest.get("group") or None
    save_dir = Path(os.environ.get("WANDB_DIR", "."))
    save_dir.mkdir(parents=True, exist_ok=True)
    from ..train.tracking import start_run, wandb_id

    name = f"report-{group or 'all'}"
    run = start_run({"project": project or os.environ.get("WANDB_PROJECT", "ganbench"), "group": group,
                     "job_type": "report", "name": name, "id": wandb_id(name), "dir": str(save_dir),
                     "config": {"runs": len(runs), "datasets": sorted({r["dataset"] for r in runs})}}, mode)
    if run is None:                       # W&B unreachable even offline: the local report stands (one warning)
        return None
    try:
        table = wandb.Table(columns=TABLE_COLUMNS, data=comparison_table_rows(runs, rows))
        run.log({"comparison": table})
        run.summary["runs"] = len(runs)
        return str(run.dir)
    finally:
        run.finish()


# ------------------------------------------------------------------------------------------------ W&B Report


def leaderboard_markdown(board: Leaderboard, dataset: str) -> str:
    """The dataset's part of :func:`benchmark.report.aggregate.leaderboard` as a markdown table per group
    (unconditional, conditional): rank, variant, median [95% interval], seeds, notes; best first."""
    entry = board.datasets.get(dataset)
    if not entry or not entry.groups:
        return "No run of this dataset was scored."
    metric, parts = entry.metric, []
    for group, entries in entry.groups.items():
        lines = [f"*{GROUP_TITLES.get(group, group)}*", "",
                 f"| rank | variant | {metric} {arrow(metric)} median [95% CI] | seeds | notes |",
                 "|---|---|---|---|---|"]
        lines += [f"| {e.rank if e.rank is not None and not e.noise else rank_text(e)} | {e.variant} | {fmt_ci(e)} "
                  f"| {e.n_stat} | {entry_notes(e) or ''} |" for e in entries]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def build_wandb_report(runs: list[dict], rows: list[AggregateRow] | None = None, *, project: str = "ganbench",
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
                              f"`python -m benchmark report --wandb-report`. Each leaderboard ranks the variants on "
                              f"the dataset's primary metric as summary.md does: {STATS_NOTE}")]
    board = leaderboard(rows)
    for dataset in sorted({r["dataset"] for r in runs}):
        metric = board.datasets[dataset].metric if dataset in board.datasets else None
        board_md = leaderboard_markdown(board, dataset)
        height = 3 + board_md.count("\n")
        names = sorted({r["run_id"] for r in runs if r["dataset"] == dataset and r.get("status") in FINISHED})
        runset = wr.Runset(entity=entity, project=project, name=dataset,
                           filters=[expr.Metric("Name").isin(names or ["-"]), expr.Metric("JobType") == "train"],
                           order=[wr.OrderBy(wr.SummaryMetric(f"final/{metric}"),
                                             ascending=lower_is_better(metric))] if metric else [])
        panels: list[Any] = [wr.MarkdownPanel(markdown=f"**Leaderboard: {dataset}**\n\n"
                                              + board_md, layout=wr.Layout(x=0, y=0, w=24, h=height))]
        if metric:
            panels.append(wr.LinePlot(title=f"{metric} {arrow(metric)} vs GAN iteration", x="iteration",
                                      y=[f"eval/{metric}"], groupby=wr.Config("run.variant"), groupby_aggfunc="mean",
                                      groupby_rangefunc="stderr", title_x="GAN iteration", title_y=metric,
                                      layout=wr.Layout(x=0, y=height, w=12, h=8)))
        panels.append(wr.MediaBrowser(title=f"samples on {dataset}", media_keys=["samples"], num_columns=4,
                                      layout=wr.Layout(x=12, y=height, w=12, h=8)))
        blocks += [wr.H2(f"{dataset}: ranked by {metric} {arrow(metric)}" if metric else dataset),
                   wr.PanelGrid(runsets=[runset], panels=panels)]
    return wr.Report(project=project, entity=entity, title=title[:128],
                     description="Which objective wins where: GANBench leaderboards, curves and samples.",
                     blocks=blocks, width="fluid")


def can_save() -> bool:
    """Saving needs W&B online (not ``WANDB_MODE=offline/disabled``) and an API key."""
    return wandb_mode("auto") == "online" and wandb_key_available()


def default_entity() -> str:
    """``WANDB_ENTITY``, else the API key's default entity (a network call, bounded by :data:`SAVE_TIMEOUT_S`)."""
    entity = os.environ.get("WANDB_ENTITY", "")
    if not entity:
        import wandb

        entity = call_within(lambda: wandb.Api().default_entity, SAVE_TIMEOUT_S, lambda _: None) or ""
    return entity


def write_report_file(report: Any, path: str | os.PathLike) -> Path:
    """The built report's W&B view spec as JSON (atomically): what ``report.save()`` would upload, kept so an
    offline machine's report can be published later (:func:`read_report_file`)."""
    spec = report._to_model().model_dump_json(by_alias=True, exclude_none=True)   # wandb-workspaces' own model
    atomic_write_text(path, spec)
    return Path(path)


def read_report_file(path: str | os.PathLike, entity: str = "") -> Any:
    """The ``Report`` of a file of :func:`write_report_file`; an empty entity (built offline) becomes ``entity``."""
    import wandb_workspaces.reports.v2 as wr
    from wandb_workspaces.reports.v2 import internal

    model = internal.ReportViewspec.model_validate_json(Path(path).read_text("utf-8"))
    report = wr.Report._from_model(model)
    report.width = model.spec.width                      # _from_model leaves the default ("readable")
    if entity and not report.entity:
        report.entity = entity
        for block in report.blocks:
            for runset in getattr(block, "runsets", None) or []:
                if not runset.entity:
                    runset.entity = entity
    return report


def publish_wandb_report(runs: list[dict], *, project: str = "ganbench",
                         out: str | os.PathLike | None = None) -> str | None:
    """Build the report, keep it in ``out`` (a JSON view spec, when given) and save it to W&B when
    :func:`can_save`; returns its URL, or ``None`` (printed why, and how to publish the file later)."""
    saving = can_save()
    entity = default_entity() if saving else os.environ.get("WANDB_ENTITY", "")
    report = build_wandb_report(runs, project=project, entity=entity)
    panels = sum(len(b.panels) for b in report.blocks if hasattr(b, "panels"))
    built = f"built W&B report {report.title!r} ({panels} panels in project {project!r})"
    if out is not None:
        built += f", kept in {write_report_file(report, out)}"
    if not saving:
        later = (f"; publish it later with `python -m benchmark report --publish-wandb-report {out}`" if out
                 else "")
        print(f"{built}; not saved to W&B: no API key or W&B is offline (set WANDB_API_KEY or run `wandb login`, "
              f"and leave WANDB_MODE unset or online){later}")
        return None
    call_within(report.save, SAVE_TIMEOUT_S, lambda _: None)
    print(f"{built}; saved: {report.url}")
    return report.url


def publish_report_file(path: str | os.PathLike) -> str:
    """Save a report kept by :func:`publish_wandb_report` (built offline) to W&B; returns its URL.

    Raises:
        RuntimeError: W&B is not online with an API key.
    """
    if not can_save():
        raise RuntimeError("publishing a W&B report needs W&B online with an API key (set WANDB_API_KEY or run "
                           "`wandb login`, and leave WANDB_MODE unset or online)")
    report = read_report_file(path, default_entity())
    call_within(report.save, SAVE_TIMEOUT_S, lambda _: None)
    print(f"published W&B report {report.title!r} from {path}: {report.url}")
    return report.url
