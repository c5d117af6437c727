"""The report's figures: matplotlib plots of the runs and the aggregated rows, each as an inline PNG ``data:`` URI.

Training curves (losses, D's outputs, the generator's gradient norm vs GAN iteration, mean over seeds with a
min–max band), metrics vs GAN iteration (``eval/<metric>`` history rows from ``eval_every``) and vs budget, mode
coverage scatters (2-D data; samples outside the plotted range are counted), per-seed strip plots, the best score
vs number of search trials (Lucic et al. 2018) and 2-D sample thumbnails. Each variant has one fixed colour in
every plot (:data:`PALETTE`). :mod:`benchmark.report.html` places them in the page.
"""
from __future__ import annotations

import base64
import io
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from datamodules import get_datamodule

from ..io import load_samples
from .aggregate import AggregateRow, arrow, finite_number, fmt, lower_is_better

LOSS_KEYS = ("d_loss", "g_loss")


# ------------------------------------------------------------------------------------------------ helpers
def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png_data_uri(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    _plt().close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


# one fixed colour per registered variant, the same in every plot: the n-th variant registered (the import order of
# models/variants/__init__.py) gets the n-th colour (tab10 plus black and gold), later ones a hue of their own; a
# variant run with several option sets keeps its colour and changes line style
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000000", "#e6b800")
GOLDEN = 0.618033988749895
LINE_STYLES = ("-", "--", ":", "-.")


def variant_of(label: str) -> str:
    """The registered variant of a run label (``nsgan [minibatch_kernels=16]``, ``wgan · trial 3``, ``lsgan'``)."""
    return label.split(" ")[0].rstrip("'")


def variant_order() -> tuple[str, ...]:
    """The registered variants in registration order (the order of their colours)."""
    import models

    return tuple(models.VARIANTS)


def _hue_color(hue: float) -> str:
    import colorsys

    return "#" + "".join(f"{round(c * 255):02x}" for c in colorsys.hls_to_rgb(hue % 1.0, 0.45, 0.7))


def variant_color(variant: str) -> str:
    """The variant's fixed colour: :data:`PALETTE` by registration order, then golden-ratio hues for further
    registered variants; an unregistered one (an old run file's) gets a hue from a hash of its name."""
    order = variant_order()
    if variant in order:
        i = order.index(variant)
        return PALETTE[i] if i < len(PALETTE) else _hue_color(0.05 + GOLDEN * (i - len(PALETTE)))
    import hashlib

    return _hue_color(int.from_bytes(hashlib.sha256(variant.encode()).digest()[:4], "big") / 2 ** 32)


def _colors(labels: list[str]) -> dict[str, dict[str, Any]]:
    """Line style per label: its variant's colour, a new dash pattern for each further label of that variant."""
    seen: dict[str, int] = defaultdict(int)
    out = {}
    for lab in labels:
        v = variant_of(lab)
        out[lab] = {"color": variant_color(v), "ls": LINE_STYLES[seen[v] % len(LINE_STYLES)]}
        seen[v] += 1
    return out



def curve(runs: list[dict], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """``(iterations, mean, min, max)`` of history ``key`` over ``runs`` (seeds), at every logged iteration."""
    at: dict[int, list[float]] = defaultdict(list)
    for r in runs:
        for row in r.get("history") or []:
            v = row.get(key)
            if finite_number(v) and "iteration" in row:
                at[int(row["iteration"])].append(float(v))
    if not at:
        return None
    its = np.array(sorted(at))
    vals = [at[i] for i in its]
    return (its, np.array([statistics.fmean(v) for v in vals]), np.array([min(v) for v in vals]),
            np.array([max(v) for v in vals]))


EVAL_PREFIX = "eval/"      # MetricTracker's history keys (benchmark.train.metric_tracker)


def metric_curve(runs: list[dict], metric: str):
    """:func:`curve` of a metric scored during training: ``eval/<metric>`` (MetricTracker, ``eval_every``), or the
    bare name of older runs (the W&B sample logger)."""
    return curve(runs, EVAL_PREFIX + metric) or curve(runs, metric)


def _grid(n: int, ncols: int, w: float = 2.9, h: float = 2.3):
    plt = _plt()
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(w * ncols, h * nrows + 0.5), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, list(axes.flat[:n])


def _ordered_handles(axes, order: list[str]) -> dict[str, Any]:
    handles = {h.get_label(): h for ax in axes for h in ax.get_lines()}
    rank = {_short(lab): i for i, lab in enumerate(order)}
    return dict(sorted(handles.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _legend(fig, handles: dict[str, Any], rows: int) -> None:
    """A legend under the panels, as many columns as the labels' length allows; the panels make room for it."""
    width_px = fig.get_size_inches()[0] * 100
    longest = max((max(len(x) for x in lab.split("\n")) for lab in handles), default=10)
    ncol = max(1, min(6, len(handles), int(width_px // (longest * 6.5 + 45))))
    lines = sum(max(lab.count("\n") + 1 for lab in list(handles)[i:i + ncol])
                for i in range(0, len(handles), ncol))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=9, frameon=False)
    height_px = fig.get_size_inches()[1] * 100
    fig.tight_layout(rect=(0, min(0.6, (16 * lines + 14) / height_px), 1, 1))


def _short(label: str, width: int = 36) -> str:
    """A run label wrapped for a plot title or legend (labels carry every option that varies)."""
    import textwrap

    return "\n".join(textwrap.wrap(label, width)) or label


def _band(ax, c, style, label):
    its, mean, lo, hi = c
    style = style if isinstance(style, dict) else {"color": style, "ls": "-"}
    ax.plot(its, mean, color=style["color"], ls=style["ls"], lw=1.6, label=_short(label))
    if len(its) > 1 and np.any(hi > lo):
        ax.fill_between(its, lo, hi, color=style["color"], alpha=0.15, lw=0)


# -------------------------------------------------------------------------------------------------- plots
def plot_losses(by_label: dict[str, list[dict]]) -> str | None:
    """One panel per variant: discriminator and generator loss vs GAN iteration (mean over seeds, min–max)."""
    labels = [lab for lab, rs in by_label.items() if any(curve(rs, k) for k in LOSS_KEYS)]
    if not labels:
        return None
    fig, axes = _grid(len(labels), 4)
    for ax, lab in zip(axes, labels):
        for key, color in zip(LOSS_KEYS, ("tab:red", "tab:blue")):
            c = curve(by_label[lab], key)
            if c is not None:
                _band(ax, c, color, key)
        ax.set_title(_short(lab), fontsize=10 if len(lab) <= 36 else 8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel("GAN iteration", fontsize=8)
    handles = _ordered_handles(axes, list(LOSS_KEYS))
    fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=2, fontsize=9, frameon=False)
    fig.tight_layout(rect=(0, 0.09 / math.ceil(len(labels) / 4), 1, 1))
    return _png_data_uri(fig)


def plot_training_scalars(by_label: dict[str, list[dict]], skip: set[str]) -> str | None:
    """One panel per other logged scalar (D(x), D(G(z)), the generator's gradient norm, penalties, ...), one
    line per variant."""
    keys = sorted(k for k in {k for rs in by_label.values() for r in rs for row in (r.get("history") or [])
                              for k in row} - {"iteration", *LOSS_KEYS} - skip
                  if not k.startswith(EVAL_PREFIX))          # in-training scores: plot_metric_vs_iteration
    keys = sorted(keys, key=lambda k: (k not in ("d_real", "d_fake", "g_grad_norm"), k))
    if not keys:
        return None
    colors = _colors(list(by_label))
    curves = {(lab, k): curve(rs, k) for lab, rs in by_label.items() for k in keys}
    # D's outputs are probabilities for logit-scored objectives and unbounded critic values otherwise: one panel
    # each, so a critic's scale does not flatten the probabilities
    is_prob = {lab: all(c is None or (c[2].min() >= 0 and c[3].max() <= 1)
                        for k in ("d_real", "d_fake") for c in [curves.get((lab, k))]) for lab in by_label}
    panels: list[tuple[str, str, list[str]]] = []
    names = {"d_real": "d_real: mean D(x)", "d_fake": "d_fake: mean D(G(z))", "g_grad_norm": "g_grad_norm: ‖∇G‖"}
    for key in keys:
        labs = [lab for lab in by_label if curves[(lab, key)] is not None]
        if key in ("d_real", "d_fake") and any(is_prob[lab] for lab in labs) and not all(is_prob[lab] for lab in labs):
            panels.append((key, names[key] + ", in [0, 1]", [lab for lab in labs if is_prob[lab]]))
            panels.append((key, names[key] + ", unbounded", [lab for lab in labs if not is_prob[lab]]))
        else:
            panels.append((key, names.get(key, key), labs))
    fig, axes = _grid(len(panels), 3, w=3.9, h=2.7)
    for ax, (key, title, labs) in zip(axes, panels):
        positive = True
        for lab in labs:
            c = curves[(lab, key)]
            _band(ax, c, colors[lab], lab)
            positive &= bool(np.all(c[2] > 0))
        if key == "g_grad_norm" and positive:
            ax.set_yscale("log")
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
        ax.set_xlabel("GAN iteration", fontsize=8)
    _legend(fig, _ordered_handles(axes, list(by_label)), math.ceil(len(panels) / 3))
    return _png_data_uri(fig)


def plot_metric_vs_iteration(by_label: dict[str, list[dict]], metrics: list[str]) -> str | None:
    """Metrics recorded during training (history rows holding a metric, e.g. from
    :class:`benchmark.train.metric_tracker.MetricTracker`) and, where one variant ran at several budgets, the
    final metric vs budget."""
    colors = _colors(list(by_label))
    panels: list[tuple[str, list[tuple[str, Any]]]] = []
    for m in metrics:
        lines = [(lab, metric_curve(rs, m)) for lab, rs in by_label.items()]
        lines = [(lab, c) for lab, c in lines if c is not None]        # one point is drawn too
        if lines:
            panels.append((f"{m} {arrow(m)} during training", lines))
    # final metric vs budget: runs whose configurations differ only in the budget (and the seed)
    same_but_budget: dict[str, list[dict]] = defaultdict(list)
    for rs in by_label.values():
        for r in rs:
            if r.get("status") == "completed":
                rest = {k: v for k, v in (r.get("config") or {}).items() if k not in ("iterations", "seed", "group")}
                same_but_budget[repr(sorted(rest.items(), key=lambda kv: kv[0]))].append(r)
    by_variant: dict[str, list[dict]] = {}
    for rs in same_but_budget.values():
        name = rs[0]["variant"]
        while name in by_variant:
            name += "'"
        by_variant[name] = rs
    for m in metrics:
        lines = []
        for v, rs in sorted(by_variant.items()):
            at: dict[int, list[float]] = defaultdict(list)
            for r in rs:
                val = (r.get("metrics") or {}).get(m)
                if finite_number(val):
                    at[int(r["steps"])].append(float(val))
            if len(at) > 1:
                its = np.array(sorted(at))
                vals = [at[i] for i in its]
                lines.append((v, (its, np.array([statistics.fmean(x) for x in vals]),
                                  np.array([min(x) for x in vals]), np.array([max(x) for x in vals]))))
        if lines:
            panels.append((f"final {m} vs budget", lines))
    if not panels:
        return None
    fig, axes = _grid(len(panels), 3, w=3.9, h=2.8)
    vcolors = _colors(sorted({lab for _, lines in panels for lab, _ in lines} - set(colors)))
    for ax, (title, lines) in zip(axes, panels):
        for lab, c in lines:
            style = colors.get(lab, vcolors.get(lab))
            _band(ax, c, style, lab)
            ax.scatter(c[0], c[1], s=8, color=style["color"])
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("GAN iteration", fontsize=8)
        ax.tick_params(labelsize=8)
        ax.grid(alpha=0.3)
    _legend(fig, _ordered_handles(axes, list(by_label)), math.ceil(len(panels) / 3))
    return _png_data_uri(fig)


def outside_fraction(points: np.ndarray, lim: float) -> float:
    """The fraction of ``points`` (N×2) outside the plotted square ``[-lim, lim]²`` (non-finite ones count)."""
    if len(points) == 0:
        return 0.0
    inside = np.all(np.isfinite(points), axis=1) & np.all(np.abs(np.nan_to_num(points)) <= lim, axis=1)
    return float(1.0 - inside.mean())


def plot_mode_coverage(picks: list[tuple[str, dict]], results_dir: Path) -> tuple[str | None, list[str]]:
    """One scatter per variant (its best run's kept samples): high-quality points (within 3 std of a mode) in
    blue, the others in grey, the modes as red crosses; the title gives the run's scored metrics. Returns the
    plot and one note per panel whose samples fall partly outside the plotted range (said in the panel too)."""
    panels = []
    for lab, r in picks:
        pts = load_samples(results_dir, r.get("samples"))
        if pts is None or pts.ndim != 2 or pts.shape[1] != 2:
            continue
        try:
            dm = get_datamodule(r["dataset"])
        except KeyError:
            continue
        if dm.kind != "points" or not dm.has_modes:
            continue
        panels.append((lab, r, pts.astype(np.float64), dm.modes().numpy().astype(np.float64), dm.std))
    if not panels:
        return None, []
    notes = []
    fig, axes = _grid(len(panels), 4, w=3.0, h=3.4)
    for ax, (lab, r, pts, modes, std) in zip(axes, panels):
        lim = float(np.abs(modes).max()) * 1.45
        away = outside_fraction(pts, lim)
        pts = pts[np.all(np.isfinite(pts), axis=1)]
        hq = np.zeros(len(pts), bool)
        if len(pts):
            hq = np.linalg.norm(pts[:, None, :] - modes[None, :, :], axis=2).min(axis=1) <= 3 * std
        ax.scatter(pts[~hq, 0], pts[~hq, 1], s=4, color="0.55", alpha=0.5, lw=0)
        ax.scatter(pts[hq, 0], pts[hq, 1], s=6, color="tab:blue", alpha=0.8, lw=0)
        ax.scatter(modes[:, 0], modes[:, 1], s=30, marker="x", color="tab:red", lw=1.3)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        if away > 0:
            far = pts[np.argmax(np.abs(pts).max(axis=1))] if len(pts) else None
            where = f" (e.g. at x≈{far[0]:.3g}, y≈{far[1]:.3g})" if far is not None else ""
            ax.text(0.5, 0.03, f"{100 * away:.0f}% of samples outside this range", transform=ax.transAxes,
                    ha="center", va="bottom", fontsize=9, color="#8f1d1d",
                    bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#8f1d1d"})
            notes.append(f"{lab} (seed {r['seed']}): {100 * away:.0f}% of its samples lie outside the plotted "
                         f"range ±{lim:.3g}{where}")
        m = r.get("metrics") or {}
        scored = (f"{fmt(m.get('modes_covered'))}/{len(modes)} modes, {fmt(m.get('high_quality'))}% HQ"
                  if "modes_covered" in m else r.get("status", ""))
        ax.set_title(f"{_short(lab, 26)} (seed {r['seed']})\n{scored}", fontsize=11 if len(lab) <= 26 else 9)
    fig.tight_layout()
    return _png_data_uri(fig), notes


def plot_strip(entries: list[AggregateRow], metric: str) -> str | None:
    """Per-seed values of ``metric`` per variant (the selected cells): one dot per completed seed (collapsed seeds
    red-edged), diverged seeds as crosses at the worst edge, the median as a bar and its 95% interval as a line."""
    entries = [e for e in entries if e.values or e.diverged]
    if not entries:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(min(12.0, max(6.0, 1.2 + 0.95 * len(entries))), 3.4))
    finite = [v for e in entries for v, _, _ in e.values if math.isfinite(v)]
    lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
    pad = 0.08 * (hi - lo or abs(hi) or 1.0)
    edge = hi + pad if lower_is_better(metric) else lo - pad            # where a worst score is drawn
    rng = np.random.default_rng(0)                                       # jitter, fixed: a deterministic report
    for i, e in enumerate(entries):
        color = variant_color(variant_of(e.variant))
        collapsed = set(e.collapsed_runs)
        for v, rid, _ in e.values:
            y = v if math.isfinite(v) else edge
            ax.scatter(i + rng.uniform(-0.18, 0.18), y, s=30, color=color, alpha=0.85, zorder=3,
                       edgecolors="#d62728" if rid in collapsed else "none", linewidths=1.6)
        for _ in range(e.diverged):
            ax.scatter(i + rng.uniform(-0.18, 0.18), edge, s=40, marker="x", color="#d62728", zorder=3)
        if e.median is not None and math.isfinite(e.median):
            ax.hlines(e.median, i - 0.3, i + 0.3, color="k", lw=2, zorder=4)
        if e.ci_low is not None:
            a, b = (edge if not math.isfinite(x) else x for x in (e.ci_low, e.ci_high))
            ax.vlines(i + 0.34, a, b, color="k", lw=1, zorder=4)
    ax.set_xticks(range(len(entries)))
    ax.set_xticklabels([_short(e.variant, 14) for e in entries], fontsize=10)
    ax.set_ylabel(f"{metric} {arrow(metric)}", fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    ax.set_xlim(-0.6, len(entries) - 0.4)
    fig.tight_layout()
    return _png_data_uri(fig)


def trial_curves(rows: list[AggregateRow], dataset: str, metric: str) -> dict[str, tuple[list[int], list[float]]]:
    """Per variant with search trials on ``dataset``: (number of trials, best median reached so far), trials taken
    in trial-index order (the order a random search ran them)."""
    trs: dict[str, list[AggregateRow]] = defaultdict(list)
    for r in rows:
        if r.dataset == dataset and r.trial is not None and r.metric == metric and r.median is not None:
            trs[r.base].append(r)
    pick = min if lower_is_better(metric) else max
    out = {}
    for base, rs in sorted(trs.items()):
        rs.sort(key=lambda r: r.trial.get("index", 0))
        best, ys = None, []
        for r in rs:
            best = r.median if best is None else pick(best, r.median)
            ys.append(best)
        out[base] = (list(range(1, len(rs) + 1)), ys)
    return out


def plot_trials(rows: list[AggregateRow], dataset: str, metric: str) -> str | None:
    """Lucic et al.'s plot: best score reached vs number of trials, one line per variant."""
    curves = trial_curves(rows, dataset, metric)
    if not curves:
        return None
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    styles = _colors(list(curves))
    for base, (xs, ys) in curves.items():
        ys = [y if math.isfinite(y) else np.nan for y in ys]
        ax.step(xs, ys, where="post", color=styles[base]["color"], ls=styles[base]["ls"], lw=1.8, label=base)
        ax.scatter(xs, ys, s=12, color=styles[base]["color"])
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("number of trials (trial-index order)", fontsize=10)
    ax.set_ylabel(f"best median {metric} {arrow(metric)}", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=9, frameon=False, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    return _png_data_uri(fig)


def points_thumbnail(r: dict, results_dir: Path, title: str) -> str | None:
    """A 2-D run's kept samples drawn for a gallery thumbnail (large title and legend for its display size), or
    ``None`` when its samples are not kept or the data are not 2-D points."""
    try:
        dm = get_datamodule(r["dataset"])
    except KeyError:
        return None
    if getattr(dm, "kind", "") != "points":
        return None
    pts = load_samples(results_dir, r.get("samples"))
    if pts is None or pts.ndim != 2 or pts.shape[1] != 2:
        return None
    pts = pts.astype(np.float64)
    modes = dm.known_modes().numpy() if dm.has_modes else None
    lim = (float(np.abs(modes).max()) * 1.45) if modes is not None else 3.0
    away = outside_fraction(pts, lim)
    plt = _plt()
    fig, ax = plt.subplots(figsize=(3.2, 3.3))
    ax.scatter(pts[:, 0], pts[:, 1], s=5, alpha=0.5, lw=0, color=variant_color(r["variant"]), label="generated")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], s=40, marker="x", color="tab:red", lw=1.4, label="modes")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.tick_params(labelsize=9)
    ax.set_title(_short(title, 30), fontsize=11)
    ax.legend(loc="upper right", fontsize=9, markerscale=1.5, framealpha=0.8)
    if away > 0:
        ax.text(0.5, 0.08, f"{100 * away:.0f}% outside this range", transform=ax.transAxes, ha="center",
                fontsize=10, color="#8f1d1d", bbox={"facecolor": "white", "alpha": 0.85, "edgecolor": "#8f1d1d"})
    fig.tight_layout()
    return _png_data_uri(fig)
