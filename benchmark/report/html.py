"""``results/report.html``: the leaderboard, the summary tables and plots, as one self-contained HTML file.

Built from the run JSONs alone (called by :func:`benchmark.report.build_report`). At the top, the leaderboard
(:func:`benchmark.report.aggregate.leaderboard`: per dataset, each variant's rank, median and 95% bootstrap
interval on the dataset's primary metric; conditional variants apart; mean rank across datasets). Per dataset:
the comparison table (variant × metric: median [95% interval], mean ± std, best run, collapsed seeds, the
hyper-parameters of each row, published numbers beside ours where the protocol matches), the protocol of every
metric, a strip plot of the primary metric per seed, for a hyper-parameter search the best score reached vs
number of trials (Lucic et al. 2018), training curves, metrics vs GAN iteration, mode-coverage scatter plots
(2-D data) and sample grids. The plots are drawn by :mod:`benchmark.report.figures`; every image is an inline
base64 PNG (``data:`` URI), so the file works copied alone. The W&B outputs of a report (the comparison table,
the W&B Report) are :mod:`benchmark.report.wandb_report`'s.
"""
from __future__ import annotations

import base64
import html
import math
import os
from collections import Counter, defaultdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from datamodules import get_datamodule

from ..io import atomic_write_text, record_file
from .aggregate import (
    AggregateRow,
    RankedRow,
    arrow,
    finite_number,
    fmt,
    fmt_ci,
    is_smoke,
    leaderboard,
    lower_is_better,
    primary_metric,
    run_labels,
)
from .convergence import convergence_note
from .figures import (
    plot_losses,
    plot_metric_vs_iteration,
    plot_mode_coverage,
    plot_strip,
    plot_training_scalars,
    plot_trials,
    points_thumbnail,
    variant_color,
    variant_of,
)
from .markdown import (
    GROUP_TITLES,
    SMOKE_NOTE,
    STATS_NOTE,
    baseline_lines,
    entry_notes,
    leaderboard_matrix,
    mean_rank_text,
    rank_text,
    table_order,
)
from .references import REFERENCES, matching_references

# the protocol fields shown in the one-line summary under a table (the rest is behind "full protocol")
PROTOCOL_SUMMARY_KEYS = ("implementation", "num_generated", "num_real", "reference_dataset", "reference_split",
                         "feature_extractor", "resize", "high_quality_within", "num_modes", "formula", "reference",
                         "reason")

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dee7; --bg:#ffffff; --soft:#f4f6fa; --good:#e3f4e6;
        --goodfg:#17612a; --bad:#fbe6e6; --badfg:#8f1d1d; --accent:#2456a6; }
* { box-sizing:border-box; }
body { margin:0; font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color:var(--fg); background:var(--bg); }
main { max-width:1240px; margin:0 auto; padding:24px 28px 60px; }
h1 { font-size:28px; margin:0 0 4px; }
h2 { font-size:22px; margin:40px 0 6px; padding-top:14px; border-top:3px solid var(--accent); }
h3 { font-size:17px; margin:26px 0 8px; }
p, li { max-width:95ch; }
a { color:var(--accent); }
.muted { color:var(--muted); }
.small { font-size:13px; }
nav { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:8px 14px; margin:14px 0; }
nav a { margin-right:16px; white-space:nowrap; }
.facts { display:flex; flex-wrap:wrap; gap:10px; margin:12px 0 4px; }
.fact { background:var(--soft); border:1px solid var(--line); border-radius:6px; padding:6px 12px; }
.fact b { font-size:18px; display:block; }
table { border-collapse:collapse; margin:8px 0; font-size:14px; }
th, td { border:1px solid var(--line); padding:5px 9px; vertical-align:top; }
th { background:var(--soft); text-align:left; font-weight:600; }
td.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
tbody tr:nth-child(even) td { background:#fafbfd; }
td.best { background:var(--good) !important; }
td.best .v { color:var(--goodfg); font-weight:700; }
.v { font-size:15px; }
.sub { display:block; font-size:12px; color:var(--muted); }
.ref { display:block; font-size:12px; color:#7a4b00; }
.status-bad { color:var(--badfg); font-weight:600; }
.runid { font-family:ui-monospace, Menlo, Consolas, monospace; font-size:12px; }
.tablewrap { overflow-x:auto; }
ul.protocol { margin:6px 0; padding-left:20px; font-size:13px; color:var(--muted); }
ul.protocol b { color:var(--fg); }
details { margin:4px 0 10px; }
details summary { cursor:pointer; color:var(--accent); font-size:13px; }
pre { background:var(--soft); padding:8px; font-size:12px; overflow-x:auto; }
figure { margin:10px 0 18px; }
figure img { max-width:100%; border:1px solid var(--line); border-radius:4px; }
figcaption { font-size:13px; color:var(--muted); margin-top:4px; max-width:110ch; }
.gallery { display:grid; grid-template-columns:repeat(auto-fill, minmax(300px, 1fr)); gap:14px; }
.gallery figure { margin:0; }
.gallery img { width:100%; image-rendering:pixelated; }
.tag { font-size:11px; font-weight:600; color:#6a3d9a; background:#efe7f6; border-radius:4px; padding:1px 5px;
       margin-left:6px; }
.rank { font-weight:700; color:var(--accent); }
.swatch { display:inline-block; width:11px; height:11px; border-radius:2px; margin-right:7px; vertical-align:-1px; }
table.board td, table.board th { padding:4px 10px; }
details.cfg summary { font-weight:400; font-size:12px; }
details.cfg pre { font-weight:400; max-width:60ch; white-space:pre-wrap; }
tr.ours td { background:#eef4ff !important; }
.note { background:#fff8e6; border:1px solid #f0d9a0; border-radius:6px; padding:6px 12px; font-size:14px; }
"""


# ------------------------------------------------------------------------------------------------ helpers
def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


# -------------------------------------------------------------------------------------------------- html
def _protocol_items(runs: list[dict], dataset: str, metrics: list[str]) -> str:
    """One line per distinct protocol (metrics measured under the same protocol share a line)."""
    groups: dict[str, tuple[list[str], dict]] = {}
    for m in metrics:
        p = next(((r.get("protocol") or {}).get(m) for r in runs
                  if r["dataset"] == dataset and (r.get("protocol") or {}).get(m)), None)
        if not p:
            continue
        rest = {k: v for k, v in p.items() if k != "metric"}
        groups.setdefault(repr(sorted(rest.items(), key=lambda kv: kv[0])), ([], rest))[0].append(m)
    out = []
    for names, p in groups.values():
        short = "; ".join(f"{k}: {_e(p[k])}" for k in PROTOCOL_SUMMARY_KEYS if k in p and p[k] not in (None, ""))
        full = "\n".join(f"{k}: {v}" for k, v in p.items())
        out.append(f"<li><b>{_e(', '.join(names))}</b>: {short}<details><summary>full protocol</summary>"
                   f"<pre>{_e(full)}</pre></details></li>")
    return f'<p class="small" style="margin-bottom:0">Metric protocol:</p><ul class="protocol">{"".join(out)}</ul>' \
        if out else ""


def cell_config(cell_runs: list[dict]) -> str:
    """The hyper-parameters of a cell's runs as ``key: value`` lines (the values its seeds share; keys whose values
    differ between the seeds, apart from the seed, are listed with every value)."""
    keys = sorted({k for r in cell_runs for k in (r.get("config") or {})} - {"seed"})
    lines = []
    for k in keys:
        vals = sorted({repr((r.get("config") or {}).get(k)) for r in cell_runs})
        lines.append(f"{k}: {vals[0] if len(vals) == 1 else ' | '.join(vals)}")
    trial = next((r["trial"] for r in cell_runs if r.get("trial")), None)
    if trial:
        lines.insert(0, f"trial: {trial.get('sweep')} #{trial.get('index')} searched {trial.get('params')}")
    return "\n".join(lines)


def _comparison_table(runs: list[dict], rows: list[AggregateRow], dataset: str, labels: dict[str, str]) -> str:
    drows = [r for r in rows if r.dataset == dataset and r.selected]
    metrics = sorted({r.metric for r in drows if r.metric})
    variants = sorted({r.variant for r in drows}, key=table_order)
    base_variant = {labels[r["run_id"]]: r["variant"] for r in runs if r["dataset"] == dataset}
    cell_runs: dict[str, list[dict]] = defaultdict(list)
    for r in runs:
        if r["dataset"] == dataset:
            cell_runs[labels[r["run_id"]]].append(r)
    refs = matching_references(runs, dataset)
    best_median: dict[tuple[str, bool], float] = {}     # per metric, among the same kind (conditional or not)
    for m in metrics:
        for cond in (False, True):
            meds = [r.median for r in drows if r.metric == m and r.conditional == cond
                    and r.median is not None and not math.isnan(r.median) and not r.baseline]
            if meds:
                best_median[(m, cond)] = (min if lower_is_better(m) else max)(meds)
    head = "".join(f"<th>{_e(m)} {arrow(m)}</th>" for m in metrics)
    body = []
    for v in variants:
        vr = {r.metric: r for r in drows if r.variant == v}
        any_row = next(iter(vr.values()))
        status = f"{any_row.completed}/{any_row.diverged}/{any_row.failed}"
        cls = ' class="status-bad"' if any_row.diverged or any_row.failed else ""
        cells = []
        for m in metrics:
            r = vr.get(m)
            published = "".join(f'<span class="ref" title="{_e(ref["protocol"])}">{_e(ref["source"])}: '
                                f'{_e(ref[m])}</span>' for ref, ok in refs
                                if m in ok and ref.get("variant") and ref["variant"] == base_variant.get(v))
            if r is None or r.median is None:
                cells.append(f'<td class="num">–{published}</td>')
                continue
            key = (m, r.conditional)
            best = key in best_median and r.median == best_median[key] and len(variants) > 1 and not r.baseline
            spread = (f'mean {fmt(r.mean)} ± {fmt(r.std, 2)} · n={r.n} · best {fmt(r.best)}'
                      if r.n > 1 else "n=1 (one seed: no spread)")
            cells.append(f'<td class="num{" best" if best else ""}"><span class="v">{fmt_ci(r)}</span>'
                         f'<span class="sub">{spread}</span>{published}</td>')
        best_run = next((r.best_run for r in vr.values() if r.best_run), "–")
        cond = ' <span class="tag" title="uses the class labels: ranked among conditional variants">' \
               'conditional</span>' if any_row.conditional else ""
        config = (f'<details class="cfg"><summary>hyper-parameters</summary><pre>{_e(cell_config(cell_runs[v]))}'
                  f"</pre></details>") if not any_row.baseline else \
            ' <span class="tag" title="scored with the same protocol; see the leaderboard note">baseline</span>'

        collapsed = any_row.collapsed
        body.append(f"<tr><th>{_e(v)}{cond}{config}</th><td{cls}>{status}</td>"
                    f'<td class="num{" status-bad" if collapsed else ""}">{collapsed}</td>{"".join(cells)}'
                    f'<td class="runid">{_e(best_run)}</td></tr>')
    return (f'<div class="tablewrap"><table><thead><tr><th>variant</th><th title="completed / diverged / failed">'
            f'runs c/d/f</th><th title="seeds whose mode coverage collapsed (see the leaderboard)">collapsed</th>'
            f"{head}<th>best run</th></tr></thead><tbody>{''.join(body)}</tbody></table></div>")


def _references_block(runs: list[dict], rows: list[AggregateRow], dataset: str, metrics: list[str]) -> str:
    """Published numbers under the same protocol, with our medians as rows beneath them (and a column naming our
    counterpart only when some published row has one)."""
    matched = matching_references(runs, dataset)
    out = []
    by_protocol: dict[str, list] = defaultdict(list)
    for ref, ok in matched:
        by_protocol[ref["protocol"]].append((ref, ok))
    ours: dict[str, dict[str, AggregateRow]] = defaultdict(dict)
    for r in rows:
        if r.dataset == dataset and r.selected and r.metric:
            ours[r.variant][r.metric] = r
    for proto, refs in by_protocol.items():
        cols = [m for m in metrics if any(m in ok for _, ok in refs)]
        named = any(ref.get("variant") for ref, _ in refs)
        head = "".join(f"<th>{_e(c)}</th>" for c in cols)
        body = "".join(f"<tr><td>{_e(ref['source'])}</td>" + (f"<td>{_e(ref.get('variant') or '–')}</td>"
                                                               if named else "")
                       + "".join(f'<td class="num">{_e(ref[c]) if c in ok else "–"}</td>' for c in cols) + "</tr>"
                       for ref, ok in refs)
        body += "".join(f'<tr class="ours"><td>GANBench {_e(v)} (median [95% interval])</td>'
                        + ("<td>–</td>" if named else "")
                        + "".join(f'<td class="num">{_e(fmt_ci(ms[c])) if c in ms else "–"}</td>' for c in cols)
                        + "</tr>" for v, ms in sorted(ours.items()))
        out.append(f"<h3>Published numbers (same metric protocol)</h3><p class='small muted'>{_e(proto)}. Shown "
                   f"because every scored run here used this metric protocol; networks, budgets and tuning still "
                   f"differ, so read them as a scale, not as a target. Our rows are at the bottom.</p><table><thead>"
                   f"<tr><th>source</th>{'<th>our counterpart</th>' if named else ''}{head}</tr></thead>"
                   f"<tbody>{body}</tbody></table>")
    unmatched = {ref["protocol"] for ref in REFERENCES.get(dataset, [])} - set(by_protocol)
    for proto in sorted(unmatched):
        out.append(f'<p class="note">Published numbers exist for {_e(dataset)} but are not shown: they were '
                   f"measured under another protocol ({_e(proto)}) than these runs.</p>")
    return "".join(out)


def _best_run(rs: list[dict], metric: str | None) -> dict:
    scored = [r for r in rs if r.get("status") == "completed" and metric
              and finite_number((r.get("metrics") or {}).get(metric))]
    if not scored:
        with_plot = [r for r in rs if r.get("sample_plot")]
        return (with_plot or rs)[0]
    pick = min if metric is not None and lower_is_better(metric) else max
    return pick(scored, key=lambda r: (r["metrics"][metric], -r["seed"]) if pick is max
                else (r["metrics"][metric], r["seed"]))


def file_data_uri(path: Path) -> str:
    """A PNG file as a ``data:`` URI (the report embeds every image, so the file works copied alone)."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def _run_image(r: dict, results_dir: Path, title: str) -> str | None:
    uri = points_thumbnail(r, results_dir, title)
    if uri is None and (png := record_file(results_dir, r.get("sample_plot"))) is not None and png.suffix == ".png":
        uri = file_data_uri(png)
    return uri


def _gallery(picks: list[tuple[str, dict]], results_dir: Path, metric: str | None, all_runs: list[dict]) -> str:
    figs = []
    for lab, r in picks:
        val = (r.get("metrics") or {}).get(metric) if metric else None
        cap = f"{lab} · seed {r['seed']}" + (f" · {metric} {fmt(val)}" if finite_number(val) else "") + \
              (f" · {r['status']}" if r.get("status") != "completed" else "")
        uri = _run_image(r, results_dir, f"{lab}, seed {r['seed']}")
        if uri:
            figs.append(f'<figure><img src="{uri}" alt="{_e(cap)}"><figcaption>{_e(cap)}</figcaption></figure>')
    if not figs:
        return ""
    others = []
    shown = {id(r) for _, r in picks}
    for r in all_runs:
        if id(r) in shown:
            continue
        uri = _run_image(r, results_dir, f"{r['variant']}, seed {r['seed']}")
        if uri:
            others.append(f'<figure><img src="{uri}" alt="{_e(r["run_id"])}" loading="lazy">'
                          f'<figcaption class="runid">{_e(r["run_id"])}</figcaption></figure>')
    more = (f'<details><summary>samples of the other {len(others)} runs</summary><div class="gallery">'
            f'{"".join(others)}</div></details>') if others else ""
    return f'<div class="gallery">{"".join(figs)}</div>{more}'


def _figure(uri: str | None, caption: str) -> str:
    return f'<figure><img src="{uri}" alt="{_e(caption)}"><figcaption>{_e(caption)}</figcaption></figure>' if uri \
        else ""


def leaderboard_html(rows: list[AggregateRow], *, smoke: bool = False) -> str:
    """The leaderboard (see :func:`benchmark.report.aggregate.leaderboard`): per group a variant × dataset matrix,
    each cell the rank, the median and its 95% interval on the dataset's primary metric, then the dataset's
    baselines. Rank 1 is green only where it beats the noise baseline and was ranked against another cell;
    a smoke run (``smoke``) ranks nothing."""
    board = leaderboard(rows, smoke=smoke)
    parts = ['<h2 id="leaderboard">Leaderboard: which objective wins where</h2>',
             (f'<p class="note"><strong>{_e(SMOKE_NOTE.replace("**", ""))}</strong></p>' if smoke else "")
             + f'<p class="small muted">Rank · {_e(STATS_NOTE)}</p>']
    for group, title in GROUP_TITLES.items():
        datasets, lines = leaderboard_matrix(board, group)
        if not lines:
            continue
        head = "".join(f'<th><a href="#{_e(d)}">{_e(d)}</a><span class="sub">{_e(board.datasets[d].metric)} '
                       f'{arrow(board.datasets[d].metric)}</span></th>' for d in datasets)

        def cell(d: str, e: RankedRow | None) -> str:
            if e is None:
                return '<td class="num muted">–</td>'
            notes = entry_notes(e)
            alone = len(board.datasets[d].groups[group]) < 2          # rank 1 of one cell beats nobody
            cls = " best" if e.rank == 1 and not e.noise and not alone else (" muted" if e.noise else "")
            return (f'<td class="num{cls}"><span class="rank">{_e(rank_text(e))}</span> <span class="v">'
                    f'{_e(fmt_ci(e))}</span><span class="sub">n={e.n_stat}{(" · " + _e(notes)) if notes else ""}'
                    f'</span></td>')

        body = []
        for line in lines:
            cells = [cell(d, line.cells[d]) for d in datasets]
            sw = f'<span class="swatch" style="background:{variant_color(variant_of(line.label))}"></span>'
            body.append(f'<tr><th>{sw}{_e(line.label)}</th><td class="num">{mean_rank_text(line.mean_rank)}'
                        f'</td>{"".join(cells)}</tr>')
        for label, cells in baseline_lines(board, datasets):
            body.append(f'<tr><th class="muted"><em>{_e(label)}</em></th><td class="num muted">–</td>' + "".join(
                f'<td class="num muted"><span class="v">{_e(fmt_ci(b))}</span><span class="sub">{b.n_stat} '
                f'draws</span></td>' if b else '<td class="num muted">–</td>' for b in cells.values()) + "</tr>")
        parts.append(f"<h3>{_e(title)}</h3><div class='tablewrap'><table class='board'><thead><tr><th>variant</th>"
                     f"<th>mean rank</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table></div>")
    return "".join(parts) if len(parts) > 2 else ""


def dataset_section(runs: list[dict], rows: list[AggregateRow], dataset: str, labels: dict[str, str],
                    results_dir: Path) -> str:
    druns = [r for r in runs if r["dataset"] == dataset]
    drows = [r for r in rows if r.dataset == dataset]
    metrics = sorted({r.metric for r in drows if r.metric})
    selected = {r.variant for r in drows if r.selected}
    try:
        kind = get_datamodule(dataset).kind
    except KeyError:
        kind = "image"
    by_label: dict[str, list[dict]] = defaultdict(list)
    for r in sorted(druns, key=lambda r: (labels[r["run_id"]], r["seed"])):
        if labels[r["run_id"]] in selected:              # the best trial of a search; every ordinary cell
            by_label[labels[r["run_id"]]].append(r)
    primary = primary_metric(dataset, metrics)
    picks = [(lab, _best_run(rs, primary)) for lab, rs in by_label.items()]
    iters = sorted({r["steps"] for r in druns})
    seeds = sorted({r["seed"] for r in druns})
    n_trials = len({labels[r["run_id"]] for r in druns if r.get("trial")})
    intro = (f'<p class="muted">{len(druns)} runs · {len(by_label)} variant configurations'
             + (f" (of {n_trials} search trials, each variant's best is shown)" if n_trials else "")
             + f" · seeds {_e(', '.join(map(str, seeds)))} · GAN iterations per run: "
             f"{_e(', '.join(map(str, iters)))}. Cells: median [95% bootstrap interval] over seeds, then mean ± std, "
             f"n (scored runs) and the best run's value; the best median per metric is green (conditional variants "
             f"compared among themselves). ↑ higher is better, ↓ lower is better. Each row's hyper-parameters open "
             f"under its name.</p>")
    note = convergence_note([r for rs in by_label.values() for r in rs], dataset, primary)
    note_html = _e(note).replace("**Not converged**", "<strong>Not converged</strong>")
    parts = [f'<h2 id="{_e(dataset)}">{_e(dataset)}</h2>', intro, f'<p class="convergence">{note_html}</p>',
             _comparison_table(runs, rows, dataset, labels), _protocol_items(runs, dataset, metrics),
             _references_block(runs, rows, dataset, metrics)]
    if primary:
        entries = sorted((r for r in drows if r.metric == primary and r.selected and not r.baseline),
                         key=lambda r: (r.conditional, r.variant))
        strip = plot_strip(entries, primary)
        parts.append(_figure(strip, f"{primary} per seed (one dot per completed seed; red edge: collapsed; red "
                                    f"cross at the worst edge: diverged), the median as a black bar and its 95% "
                                    f"bootstrap interval as the thin line to its right."))
        trials = plot_trials(rows, dataset, primary)
        if trials:
            parts.append("<h3>Hyper-parameter search</h3>")
            parts.append(_figure(trials, f"Best median {primary} reached vs number of trials (Lucic et al. 2018), "
                                         f"trials in index order, one line per variant: a curve still moving at "
                                         f"the right edge means the search budget was too small to compare."))
    losses = plot_losses(by_label)
    scalars = plot_training_scalars(by_label, skip=set(metrics))
    if losses or scalars:
        parts.append("<h3>Training curves</h3>")
        parts.append(_figure(losses, "Discriminator loss (red) and generator loss (blue) per variant vs GAN "
                                     "iteration: mean over seeds, shaded min–max. Each objective has its own loss "
                                     "scale, so compare shapes (steady, oscillating, collapsing), not values."))
        parts.append(_figure(scalars, "Other training scalars vs GAN iteration, one line per variant (mean over "
                                      "seeds, shaded min–max): d_real and d_fake are D's mean output on real and "
                                      "generated data (a probability for logit scores, a raw score or critic value "
                                      "otherwise; those staying in [0, 1] and the unbounded ones get separate "
                                      "panels); g_grad_norm is the generator's gradient norm."))
    mvi = plot_metric_vs_iteration(by_label, metrics)
    parts.append("<h3>Metrics vs GAN iteration</h3>")
    parts.append(_figure(mvi, "Metrics scored during training (eval_every: eval_samples generated samples from a "
                              "fixed noise seed, fewer than the final protocol's, so read the trend, not the level) "
                              "and final metrics vs budget where a variant ran at several budgets; mean over seeds, "
                              "shaded min–max.") if mvi else
                 '<p class="small muted">Not recorded for these runs: metrics during training come from '
                 "<code>eval_every</code> (in-training scores of a small sample), or from sweeping the budget "
                 "(<code>grid: {iterations: [...]}</code>).</p>")
    if kind == "points":
        cov, notes = plot_mode_coverage(picks, results_dir)
        if cov:
            parts.append("<h3>Mode coverage</h3>")
            if notes:
                parts.append('<p class="note">Samples outside the plotted range: ' + "; ".join(map(_e, notes))
                             + ".</p>")
            parts.append(_figure(cov, "The best run of each variant (by " + (primary or "metric") + "): its "
                                      "samples kept with the run (save_samples of them), high-quality ones (within 3 "
                                      "std of the nearest mode) in blue, the rest grey, the modes as red crosses. "
                                      "Titles: the run's scored metrics (on the protocol's 2,500 samples)."))
    gallery = _gallery(picks, results_dir, primary, druns)
    if gallery:
        parts.append("<h3>Samples</h3><p class='small muted'>The best run of each variant"
                     + (f" by {_e(primary)}" if primary else "") + ".</p>" + gallery)
    return "\n".join(p for p in parts if p)


def build_html(runs: list[dict], rows: list[AggregateRow], results_dir: str | os.PathLike) -> str:
    """The whole report as one self-contained HTML string: every plot and sample grid is an inline ``data:`` PNG
    (read from ``results_dir``), so the file works copied anywhere."""
    results_dir = Path(results_dir)
    labels = run_labels(runs)
    datasets = sorted({r["dataset"] for r in runs})
    status = Counter(r.get("status", "failed") for r in runs)
    groups = sorted({r.get("group") or "none" for r in runs})
    wall = sum(float(r.get("wall_time_s") or 0) for r in runs)
    versions = next((r["versions"] for r in runs if r.get("versions")), {})
    vtext = ", ".join(f"{k} {versions[k]}" for k in ("torch", "pytorch_lightning", "torch_fidelity") if k in versions)
    finished = sorted(r.get("finished_at") or "" for r in runs)
    facts = [("runs", len(runs)), ("completed", status.get("completed", 0)), ("diverged", status.get("diverged", 0)),
             ("failed", status.get("failed", 0)), ("variants", len({r["variant"] for r in runs})),
             ("datasets", len(datasets)), ("compute", f"{wall / 60:.1f} min")]
    nav = '<a href="#leaderboard">leaderboard</a>' + "".join(f'<a href="#{_e(d)}">{_e(d)}</a>' for d in datasets)
    failed = [r for r in runs if r.get("status") == "failed"]
    failed_html = ""
    if failed:
        failed_html = '<h2 id="failed">Failed runs</h2><ul>' + "".join(
            f'<li><span class="runid">{_e(r["run_id"])}</span>: {_e(r.get("error", "unknown error"))}</li>'
            for r in failed) + "</ul>"
        nav += '<a href="#failed">failed runs</a>'
    sections = "\n".join(dataset_section(runs, rows, d, labels, results_dir) for d in datasets)
    now = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>GANBench report</title><style>{CSS}</style></head>
<body><main>
<h1>GANBench report</h1>
<div class="facts">{''.join(f'<div class="fact"><b>{_e(v)}</b>{_e(k)}</div>' for k, v in facts)}</div>
{leaderboard_html(rows, smoke=is_smoke(runs))}
<nav>Sections: {nav}</nav>
<p class="muted small">Built {now} by <code>python -m benchmark report</code> from the {len(runs)} run JSONs under
<code>runs/</code> (sweep group{'s' if len(groups) > 1 else ''}: {_e(', '.join(groups))}; runs finished
{_e(finished[0][:16] if finished else '–')} to {_e(finished[-1][:16] if finished else '–')}). {_e(vtext)}.
The same tables are in <code>summary.md</code> and <code>summary.csv</code>; every image is embedded, so this file
can be copied alone.</p>
{sections}
{failed_html}
</main></body></html>
"""


def write_html_report(results_dir: str | os.PathLike, runs: list[dict], rows: list[AggregateRow]) -> Path:
    """Write ``results_dir/report.html`` atomically and return its path."""
    path = Path(results_dir) / "report.html"
    atomic_write_text(path, build_html(runs, rows, results_dir))
    return path
