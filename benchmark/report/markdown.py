"""``summary.md`` and ``summary.csv``: the leaderboard and the comparison tables as text, from the aggregated rows."""
from __future__ import annotations

import csv
import html
import io
import re
from collections import defaultdict
from dataclasses import dataclass

from .aggregate import (
    BOOTSTRAP_RESAMPLES,
    COLLAPSE_FRACTION,
    MIN_SEEDS,
    SMOKE_ITERATIONS,
    AggregateRow,
    Leaderboard,
    RankedRow,
    arrow,
    fmt,
    fmt_ci,
    is_smoke,
    leaderboard,
    primary_metric,
    protocol_line,
)
from .baselines import BASELINE_DRAWS, BASELINES
from .convergence import convergence_note
from .references import matching_references

GROUP_TITLES = {"unconditional": "Unconditional objectives",
                "conditional": "Conditional objectives (use the labels; ranked among themselves)"}
STATS_NOTE = (f"median [95% percentile-bootstrap interval] over seeds: {BOOTSTRAP_RESAMPLES} resamples of the seeds "
              "with replacement, the 2.5% and 97.5% order statistics of their medians (fixed RNG seed); a diverged "
              "seed counts as the worst score. Ties: ranks per dataset on its primary metric, 1 + the number of "
              "variants whose interval lies entirely on the better side, so variants with overlapping intervals "
              "share a rank (one seed: no interval, a tie). With 3 seeds the interval is the min–max, so most "
              f"cells tie: a cell with fewer than {MIN_SEEDS} seeds is flagged 'under {MIN_SEEDS} seeds'. Baselines "
              f"(true data, noise, collapsed; {BASELINE_DRAWS} draws each, scored with the runs' protocol) are "
              "shown under each table and never ranked; a cell whose interval (one seed: its value) is not entirely "
              "better than the noise baseline's is marked 'not better than noise' and is never ranked first (it "
              "ranks after every cell that beats noise; unranked when none does). A seed 'collapsed' when "
              f"its mode coverage is ≤ 1 or below {COLLAPSE_FRACTION:g} × its cell's median coverage. Runs of a "
              "hyper-parameter search: only each variant's best trial (best median) is ranked.")
SMOKE_NOTE = (f"**Smoke run**: every run trained at most {SMOKE_ITERATIONS} GAN iterations (`--quick`: one seed, "
              "a check that the pipeline works). These scores rank nothing; run the full sweep for a leaderboard.")


def md(x, table: bool = True) -> str:
    """Text from a run record made inert in Markdown: HTML escaped (``& < >``), line breaks flattened, ``](``
    broken so that no link or image can be formed, and (in a ``table`` cell) ``|`` and backticks escaped.
    Records are untrusted input."""
    s = html.escape(str(x), quote=False)
    s = re.sub(r"[\r\n\u2028\u2029]+", " ", s)
    if table:
        s = re.sub(r"([\\`|])", r"\\\1", s)
    return s.replace("](", "]\\(")


@dataclass
class MatrixLine:
    """One label's line of the leaderboard matrix: its mean rank and its entry per dataset (``None``: not run)."""

    label: str
    mean_rank: float | None
    cells: dict[str, RankedRow | None]


def leaderboard_matrix(board: Leaderboard, group: str) -> tuple[list[str], list[MatrixLine]]:
    """The datasets where ``group`` ranked anything, and one line per label (sorted by mean rank) with its
    per-dataset entries."""
    datasets = [d for d, v in board.datasets.items() if group in v.groups]
    lines = []
    for e in board.overall.get(group, []):
        cells = {d: next((x for x in board.datasets[d].groups[group] if x.base == e.label), None) for d in datasets}
        lines.append(MatrixLine(label=e.label, mean_rank=e.mean_rank, cells=cells))
    return datasets, lines


BASELINE_LABELS = [f"baseline: {what}" for what in BASELINES.values()]


def table_order(label: str) -> tuple:
    """Sort key of a table's rows: the cells by label, then the baselines (true data, noise, collapsed)."""
    return (label in BASELINE_LABELS, BASELINE_LABELS.index(label) if label in BASELINE_LABELS else 0, label)


def rank_text(e: RankedRow) -> str:
    """The rank shown for a leaderboard entry: ``#k``, ``not better than noise`` or ``unranked``."""
    if e.noise:
        return "not better than noise" + (f" (#{e.rank})" if e.rank is not None else "")
    return f"#{e.rank}" if e.rank is not None else "unranked"


def mean_rank_text(v: float | None) -> str:
    return "–" if v is None else f"{v:.2g}"


def baseline_lines(board: Leaderboard, datasets: list[str]) -> list[tuple[str, dict[str, AggregateRow | None]]]:
    """``(label, {dataset: baseline row or None})`` for each baseline any of ``datasets`` has."""
    out = []
    for name, what in BASELINES.items():
        cells = {d: board.datasets[d].baselines.get(name) for d in datasets}
        if any(cells.values()):
            out.append((f"baseline: {what}", cells))
    return out


def entry_notes(e: RankedRow) -> str:
    notes = []
    if e.few_seeds:
        notes.append(f"under {MIN_SEEDS} seeds")
    if e.collapsed:
        notes.append(f"{e.collapsed} collapsed")
    if e.diverged:
        notes.append(f"{e.diverged} diverged")
    if e.failed:
        notes.append(f"{e.failed} failed")
    if e.trials:
        notes.append(f"best of {e.trials} trials: #{e.trial.get('index')}")
    return ", ".join(notes)


def md_notes(e: RankedRow) -> str:
    """``; <notes>`` of an entry in a Markdown cell (empty without notes)."""
    notes = entry_notes(e)
    return f"; {md(notes)}" if notes else ""


def leaderboard_markdown(rows: list[AggregateRow], *, smoke: bool = False) -> str:
    board = leaderboard(rows, smoke=smoke)
    out = io.StringIO()
    out.write(f"\n## Leaderboard\n\n" + (f"{SMOKE_NOTE}\n\n" if smoke else "") + f"Cells: rank · {STATS_NOTE}\n")
    for group, title in GROUP_TITLES.items():
        datasets, lines = leaderboard_matrix(board, group)
        if not lines:
            continue
        out.write(f"\n### {title}\n\n| variant | mean rank | " + " | ".join(
            f"{md(d)} ({md(board.datasets[d].metric)} {arrow(board.datasets[d].metric)})" for d in datasets)
                  + " |\n|---|---|" + "---|" * len(datasets) + "\n")
        for line in lines:
            cells = ("–" if e is None else f"{rank_text(e)} · {fmt_ci(e)} (n={e.n_stat}{md_notes(e)})"
                     for e in (line.cells[d] for d in datasets))
            out.write(f"| {md(line.label)} | {mean_rank_text(line.mean_rank)} | " + " | ".join(cells) + " |\n")
        for label, cells in baseline_lines(board, datasets):
            out.write(f"| *{md(label)}* | – | " + " | ".join(
                f"{fmt_ci(b)} ({b.n_stat} draws)" if b else "–" for b in cells.values()) + " |\n")
    return out.getvalue()


def reproduce_markdown(runs: list[dict], rows: list[AggregateRow]) -> str:
    """Per leaderboard cell, the command that reproduces one of its seeds (its best run by the primary metric)."""
    from ..train.options import reproduce_command

    board = leaderboard(rows)
    by_id = {r["run_id"]: r for r in runs}
    out = io.StringIO()
    out.write("\n## Reproduce a cell\n\nEach command trains one seed of a leaderboard cell (the run with its "
              "best primary score) with every option that differs from the defaults, the tuned recipe included; "
              "it writes the same run id.\n\n")
    for dataset, v in board.datasets.items():
        for group in v.groups.values():
            for e in group:
                run = by_id.get(e.best_run or "")
                if run is None or not run.get("config"):
                    continue
                try:
                    cmd = reproduce_command(run["config"])
                except Exception as err:        # an old record whose options no longer resolve
                    cmd = f"(not reproducible with this version: {err})"
                out.write(f"- {md(dataset)} · {md(e.variant)} (seed {md(run.get('seed'))}): `{md(cmd, table=False).replace('`', chr(39))}`\n")
    return out.getvalue()


def summary_markdown(runs: list[dict], rows: list[AggregateRow]) -> str:
    out = io.StringIO()
    smoke = is_smoke(runs)
    out.write("# GANBench summary\n\n" + (f"{SMOKE_NOTE}\n\n" if smoke else "")
              + "Built from the run JSONs under `runs/` by `python -m benchmark report`.\n")
    out.write(leaderboard_markdown(rows, smoke=smoke))
    out.write("\n## Per dataset\n\nCells: median [95% bootstrap interval]; mean ± std over seeds (n = runs scored; "
              "best run's value). Statuses: completed / diverged / failed; collapsed: seeds whose mode coverage "
              "collapsed (see the leaderboard's definition).\n")
    for dataset in sorted({r.dataset for r in rows}):
        drows = [r for r in rows if r.dataset == dataset]
        metrics = sorted({r.metric for r in drows if r.metric})
        primary = primary_metric(dataset, metrics)
        variants = sorted({r.variant for r in drows if r.selected}, key=table_order)
        iters = sorted({run["steps"] for run in runs if run["dataset"] == dataset})
        out.write(f"\n### {md(dataset)}\n\nGAN iterations per run: {md(', '.join(map(str, iters)))}\n\n")
        selected_runs = [run for run in runs if run["dataset"] == dataset
                         and (not run.get("trial") or any(r.selected and r.trial == run["trial"]
                                                          and r.variant == run["variant"] for r in drows))]
        out.write(md(convergence_note(selected_runs, dataset, primary), table=False) + "\n\n")
        out.write("| variant | runs (c/d/f) | collapsed | " + " | ".join(
            f"{md(m)} {arrow(m)}" for m in metrics) + f" | best run (by {md(primary)}) |\n")
        out.write("|---|---|---|" + "---|" * len(metrics) + "---|\n")
        for v in variants:
            vr = {r.metric: r for r in drows if r.variant == v}
            any_row = next(iter(vr.values()))
            cells = []
            for m in metrics:
                r = vr.get(m)
                if r is None or r.mean is None:
                    cells.append("–")
                else:
                    cells.append(f"{fmt_ci(r)}; {fmt(r.mean)} ± {fmt(r.std, 2)} (n={r.n}; best {fmt(r.best)})")
            best_run = (vr[primary].best_run if primary in vr else None) or "–"
            name = md(v) + (" (conditional)" if any_row.conditional else "")
            out.write(f"| {name} | {any_row.completed}/{any_row.diverged}/{any_row.failed} | "
                      f"{any_row.collapsed} | " + " | ".join(cells) + f" | {md(best_run)} |\n")
        trials = [r for r in drows if r.trial is not None and r.metric == primary]
        if trials:
            out.write(f"\nHyper-parameter search trials ({md(primary)}, median [95% interval]; the best of each "
                      "variant is in the table above):\n\n| trial | sweep | " + f"{md(primary)} {arrow(primary)} | params |"
                      "\n|---|---|---|---|\n")
            for r in sorted(trials, key=lambda r: (r.base, r.trial.get("index", 0))):
                params = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                                   for k, v in (r.trial.get("params") or {}).items())
                out.write(f"| {md(r.variant)}{' ✓' if r.selected else ''} | {md(r.trial.get('sweep'))} | "
                          f"{fmt_ci(r)} (n={r.n_stat}) | {md(params)} |\n")
        for m in metrics:
            line = protocol_line(runs, dataset, m)
            if line:
                out.write(f"\n- *{md(m)}*: {md(line)}")
        out.write("\n")
        by_protocol: dict[str, list[tuple[dict, list[str]]]] = defaultdict(list)
        for ref, ok in matching_references(runs, dataset):
            by_protocol[ref["protocol"]].append((ref, ok))
        for proto, refs in by_protocol.items():
            cols = [m for m in metrics if any(m in ok for _, ok in refs)]
            out.write(f"\nPublished numbers, same metric protocol ({proto}):\n\n")
            out.write("| source | " + " | ".join(cols) + " |\n|---|" + "---|" * len(cols) + "\n")
            for ref, ok in refs:
                out.write(f"| {ref['source']} | " + " | ".join(ref[c] if c in ok else "–" for c in cols) + " |\n")
    out.write(reproduce_markdown(runs, rows))
    failed = [r for r in runs if r.get("status") == "failed"]
    if failed:
        out.write("\n## Failed runs\n\n")
        for r in failed:
            out.write(f"- {md(r['run_id'])}: {md(r.get('error', 'unknown error'))}\n")
    return out.getvalue()


CSV_FIELDS = ["dataset", "variant", "metric", "median", "ci_low", "ci_high", "n_stat", "mean", "std", "n", "best",
              "best_run", "completed", "diverged", "failed", "interrupted", "collapsed", "conditional", "trial",
              "selected", "baseline"]


def summary_csv(rows: list[AggregateRow]) -> str:
    """Every row (all trials too), the median and its interval first, mean ± std kept as extra columns."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (r.trial or {}).get("index", "") if k == "trial" else getattr(r, k) for k in CSV_FIELDS})
    return buf.getvalue()
