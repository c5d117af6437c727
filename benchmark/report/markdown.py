"""``summary.md`` and ``summary.csv``: the comparison tables as text, from the aggregated rows."""
from __future__ import annotations

import csv
import io
from collections import defaultdict

from .aggregate import arrow, fmt, primary_metric, protocol_line
from .references import matching_references


def summary_markdown(runs: list[dict], rows: list[dict]) -> str:
    out = io.StringIO()
    out.write("# GANBench summary\n\nBuilt from the run JSONs under `runs/` by `python -m benchmark report`. "
              "Cells are mean ± std over seeds (n = runs scored), then the best run. "
              "Statuses: completed / diverged / failed.\n")
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        metrics = sorted({r["metric"] for r in drows if r["metric"]})
        primary = primary_metric(dataset, metrics)
        variants = sorted({r["variant"] for r in drows})
        iters = sorted({run["steps"] for run in runs if run["dataset"] == dataset})
        out.write(f"\n## {dataset}\n\nGAN iterations per run: {', '.join(map(str, iters))}\n\n")
        out.write("| variant | runs (c/d/f) | " + " | ".join(
            f"{m} {arrow(m)}" for m in metrics) + f" | best run (by {primary}) |\n")
        out.write("|---|---|" + "---|" * len(metrics) + "---|\n")
        for v in variants:
            vr = {r["metric"]: r for r in drows if r["variant"] == v}
            any_row = next(iter(vr.values()))
            cells = []
            for m in metrics:
                r = vr.get(m)
                if r is None or r["mean"] is None:
                    cells.append("–")
                else:
                    cells.append(f"{fmt(r['mean'])} ± {fmt(r['std'], 2)} (n={r['n']}; best {fmt(r['best'])})")
            best_run = (vr.get(primary) or {}).get("best_run") or "–"
            out.write(f"| {v} | {any_row['completed']}/{any_row['diverged']}/{any_row['failed']} | "
                      + " | ".join(cells) + f" | {best_run} |\n")
        for m in metrics:
            line = protocol_line(runs, dataset, m)
            if line:
                out.write(f"\n- *{m}*: {line}")
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
            out.write(f"- `{r['run_id']}`: {r.get('error', 'unknown error')}\n")
    return out.getvalue()


def summary_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    fields = ["dataset", "variant", "metric", "mean", "std", "n", "best", "best_run", "completed", "diverged",
              "failed"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for r in rows:
        w.writerow({k: r[k] for k in fields})
    return buf.getvalue()
