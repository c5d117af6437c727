"""``summary.md`` and ``summary.csv``: the leaderboard and the comparison tables as text, from the aggregated rows."""
from __future__ import annotations

import csv
import html
import io
import re
from collections import defaultdict

from .aggregate import (
    COLLAPSE_FRACTION,
    arrow,
    fmt,
    fmt_ci,
    leaderboard,
    primary_metric,
    protocol_line,
)
from .convergence import convergence_note
from .references import matching_references

GROUP_TITLES = {"unconditional": "Unconditional objectives",
                "conditional": "Conditional objectives (use the labels; ranked among themselves)"}
STATS_NOTE = ("median [95% percentile-bootstrap interval] over seeds (a diverged seed counts as the worst score); "
              "ranks per dataset on its primary metric, 1 + the number of variants whose interval lies entirely "
              "on the better side, so variants with overlapping intervals share a rank (one seed: no interval, a tie); a seed 'collapsed' when "
              f"its mode coverage is ≤ 1 or below {COLLAPSE_FRACTION:g} × its cell's median coverage. Runs of a "
              "hyper-parameter search: only each variant's best trial (best median) is ranked.")


def md(x, table: bool = True) -> str:
    """Text from a run record made inert in Markdown: HTML escaped (``& < >``), line breaks flattened, ``](``
    broken so that no link or image can be formed, and (in a ``table`` cell) ``|`` and backticks escaped.
    Records are untrusted input."""
    s = html.escape(str(x), quote=False)
    s = re.sub(r"[\r\n\u2028\u2029]+", " ", s)
    if table:
        s = re.sub(r"([\\`|])", r"\\\1", s)
    return s.replace("](", "]\\(")


def leaderboard_matrix(board: dict, group: str) -> tuple[list[str], list[dict]]:
    """The datasets where ``group`` ranked anything, and one line per label (sorted by mean rank) with its
    per-dataset entries."""
    datasets = [d for d, v in board["datasets"].items() if group in v["groups"]]
    lines = []
    for e in board["overall"].get(group, []):
        cells = {d: next((x for x in board["datasets"][d]["groups"][group] if x["base"] == e["label"]), None)
                 for d in datasets}
        lines.append({"label": e["label"], "mean_rank": e["mean_rank"], "cells": cells})
    return datasets, lines


def entry_notes(e: dict) -> str:
    notes = []
    if e["collapsed"]:
        notes.append(f"{e['collapsed']} collapsed")
    if e["diverged"]:
        notes.append(f"{e['diverged']} diverged")
    if e["failed"]:
        notes.append(f"{e['failed']} failed")
    if e["trials"]:
        notes.append(f"best of {e['trials']} trials: #{e['trial'].get('index')}")
    return ", ".join(notes)


def leaderboard_cells(line: dict, datasets: list[str], cell, missing: str) -> list[str]:
    """One leaderboard line's cells, a dataset each: ``cell(entry, notes)`` (notes: :func:`entry_notes`) where the
    line has an entry, else ``missing``."""
    return [missing if line["cells"][d] is None else cell(line["cells"][d], entry_notes(line["cells"][d]))
            for d in datasets]


def leaderboard_markdown(rows: list[dict]) -> str:
    board = leaderboard(rows)
    out = io.StringIO()
    out.write(f"\n## Leaderboard\n\nCells: rank · {STATS_NOTE}\n")
    for group, title in GROUP_TITLES.items():
        datasets, lines = leaderboard_matrix(board, group)
        if not lines:
            continue
        out.write(f"\n### {title}\n\n| variant | mean rank | " + " | ".join(
            f"{md(d)} ({md(board['datasets'][d]['metric'])} {arrow(board['datasets'][d]['metric'])})" for d in datasets)
                  + " |\n|---|---|" + "---|" * len(datasets) + "\n")
        for line in lines:
            cells = leaderboard_cells(line, datasets, lambda e, notes: (
                f"#{e['rank']} · {fmt_ci(e)} (n={e['n_stat']}{'; ' + md(notes) if notes else ''})"), "–")
            out.write(f"| {md(line['label'])} | {line['mean_rank']:.2g} | " + " | ".join(cells) + " |\n")
    return out.getvalue()


def summary_markdown(runs: list[dict], rows: list[dict]) -> str:
    out = io.StringIO()
    out.write("# GANBench summary\n\nBuilt from the run JSONs under `runs/` by `python -m benchmark report`.\n")
    out.write(leaderboard_markdown(rows))
    out.write("\n## Per dataset\n\nCells: median [95% bootstrap interval]; mean ± std over seeds (n = runs scored; "
              "best run's value). Statuses: completed / diverged / failed; collapsed: seeds whose mode coverage "
              "collapsed (see the leaderboard's definition).\n")
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        metrics = sorted({r["metric"] for r in drows if r["metric"]})
        primary = primary_metric(dataset, metrics)
        variants = sorted({r["variant"] for r in drows if r["selected"]})
        iters = sorted({run["steps"] for run in runs if run["dataset"] == dataset})
        out.write(f"\n### {md(dataset)}\n\nGAN iterations per run: {md(', '.join(map(str, iters)))}\n\n")
        selected_runs = [run for run in runs if run["dataset"] == dataset
                         and (not run.get("trial") or any(r["selected"] and r["trial"] == run["trial"]
                                                          and r["variant"] == run["variant"] for r in drows))]
        out.write(md(convergence_note(selected_runs, dataset, primary), table=False) + "\n\n")
        out.write("| variant | runs (c/d/f) | collapsed | " + " | ".join(
            f"{md(m)} {arrow(m)}" for m in metrics) + f" | best run (by {md(primary)}) |\n")
        out.write("|---|---|---|" + "---|" * len(metrics) + "---|\n")
        for v in variants:
            vr = {r["metric"]: r for r in drows if r["variant"] == v}
            any_row = next(iter(vr.values()))
            cells = []
            for m in metrics:
                r = vr.get(m)
                if r is None or r["mean"] is None:
                    cells.append("–")
                else:
                    cells.append(f"{fmt_ci(r)}; {fmt(r['mean'])} ± {fmt(r['std'], 2)} "
                                 f"(n={r['n']}; best {fmt(r['best'])})")
            best_run = (vr.get(primary) or {}).get("best_run") or "–"
            name = md(v) + (" (conditional)" if any_row["conditional"] else "")
            out.write(f"| {name} | {any_row['completed']}/{any_row['diverged']}/{any_row['failed']} | "
                      f"{any_row['collapsed']} | " + " | ".join(cells) + f" | {md(best_run)} |\n")
        trials = [r for r in drows if r["trial"] is not None and r["metric"] == primary]
        if trials:
            out.write(f"\nHyper-parameter search trials ({md(primary)}, median [95% interval]; the best of each "
                      "variant is in the table above):\n\n| trial | sweep | " + f"{md(primary)} {arrow(primary)} | params |"
                      "\n|---|---|---|---|\n")
            for r in sorted(trials, key=lambda r: (r["base"], r["trial"].get("index", 0))):
                params = ", ".join(f"{k}={fmt(v) if isinstance(v, float) else v}"
                                   for k, v in (r["trial"].get("params") or {}).items())
                out.write(f"| {md(r['variant'])}{' ✓' if r['selected'] else ''} | {md(r['trial'].get('sweep'))} | "
                          f"{fmt_ci(r)} (n={r['n_stat']}) | {md(params)} |\n")
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
    failed = [r for r in runs if r.get("status") == "failed"]
    if failed:
        out.write("\n## Failed runs\n\n")
        for r in failed:
            out.write(f"- {md(r['run_id'])}: {md(r.get('error', 'unknown error'))}\n")
    return out.getvalue()


CSV_FIELDS = ["dataset", "variant", "metric", "median", "ci_low", "ci_high", "n_stat", "mean", "std", "n", "best",
              "best_run", "completed", "diverged", "failed", "interrupted", "collapsed", "conditional", "trial",
              "selected"]


def summary_csv(rows: list[dict]) -> str:
    """Every row (all trials too), the median and its interval first, mean ± std kept as extra columns."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: (r["trial"] or {}).get("index", "") if k == "trial" else r[k] for k in CSV_FIELDS})
    return buf.getvalue()
