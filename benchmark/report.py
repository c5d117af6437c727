"""Tables and plots derived from the run JSONs alone (never hand-edited).

``build_report(results_dir)`` writes ``summary.md`` and ``summary.csv`` (variant × dataset: mean ± std over
seeds, number of runs, best run, the protocol under each metric, published numbers beside ours where the
protocol matches), a sample plot per run under ``samples/`` and ``report.html`` (the same tables with plots,
:mod:`benchmark.report_html`), and logs the comparison to W&B.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from .results import atomic_write_text, load_runs

# Published numbers (shared/REFERENCE_NUMBERS.md), shown only beside our results under the same protocol.
REFERENCES: dict[str, list[dict[str, Any]]] = {
    "ring8": [
        {"source": "PacGAN (Lin et al. 2018) Table 1, GAN, 10 trials", "modes_covered": "6.3 ± 0.5",
         "high_quality": "98.2", "reverse_kl": "0.45"},
        {"source": "PacGAN Table 1, PacGAN2", "modes_covered": "7.9 ± 0.1", "high_quality": "95.6",
         "reverse_kl": "0.07"},
        {"source": "VEEGAN (Srivastava et al. 2017) Table 1, GAN", "modes_covered": "1", "high_quality": "99.3"},
        {"source": "VEEGAN Table 1, VEEGAN", "modes_covered": "8", "high_quality": "52.9"},
    ],
    "grid25": [
        {"source": "PacGAN Table 1, GAN", "modes_covered": "17.3 ± 0.8", "high_quality": "94.8",
         "reverse_kl": "0.70"},
        {"source": "PacGAN Table 1, PacGAN4", "modes_covered": "24.8 ± 0.2", "high_quality": "93.6",
         "reverse_kl": "0.04"},
        {"source": "VEEGAN Table 1, GAN", "modes_covered": "3.3", "high_quality": "0.5"},
        {"source": "VEEGAN Table 1, VEEGAN", "modes_covered": "24.6", "high_quality": "40"},
    ],
}
REFERENCE_PROTOCOL = {"ring8": "2,500 samples, high quality within 3 std (their networks and budgets differ)",
                      "grid25": "2,500 samples, high quality within 3 std (their networks and budgets differ)"}
for _dataset in ("ring8", "grid25"):
    for _ref in REFERENCES[_dataset]:
        _ref.update(protocol=REFERENCE_PROTOCOL[_dataset], requires={"num_generated": 2500})

# Lucic et al. 2018, best FID after a wide hyper-parameter search (quoted: Dai & Wipf 2019 Table 1; PA-GAN Table 2).
# "variant" names our objective where it is the same loss (their DRAGAN and BEGAN have no GANBench counterpart).
LUCIC_PROTOCOL = ("FID, 10k generated samples, TF Inception; budget MNIST and Fashion-MNIST 20 epochs, CIFAR-10 100, "
                  "CelebA 40; best of a wide hyper-parameter search")
_LUCIC_FID = {   # model: (our variant, MNIST, Fashion-MNIST, CIFAR-10, CelebA)
    "MM GAN": ("minimax", "9.8 ± 0.9", "29.6 ± 1.6", "72.7 ± 3.6", "65.6 ± 4.2"),
    "NS GAN": ("nsgan", "6.8 ± 0.5", "26.5 ± 1.6", "58.5 ± 1.9", "55.0 ± 3.3"),
    "LSGAN": ("lsgan", "7.8 ± 0.6", "30.7 ± 2.2", "87.1", "53.9 ± 2.8"),
    "WGAN": ("wgan", "6.7 ± 0.4", "21.5 ± 1.6", "55.2 ± 2.3", "41.3 ± 2.0"),
    "WGAN-GP": ("wgan_gp", "20.3 ± 5.0", "24.5 ± 2.1", "55.8 ± 0.9", "30.3 ± 1.0"),
    "DRAGAN": (None, "7.6 ± 0.4", "27.7 ± 1.2", "69.8 ± 2.0", "42.3 ± 3.0"),
    "BEGAN": (None, "13.1 ± 1.0", "22.9 ± 0.9", "71.4 ± 1.6", "38.9 ± 0.9"),
}
for _model, (_variant, *_values) in _LUCIC_FID.items():
    for _dataset, _fid in zip(("mnist", "fashion_mnist", "cifar10", "celeba"), _values):
        REFERENCES.setdefault(_dataset, []).append(
            {"source": f"Lucic et al. 2018, {_model}", "variant": _variant, "fid": _fid, "protocol": LUCIC_PROTOCOL,
             "requires": {"num_generated": 10_000, "feature_extractor": "TF inception"}})
# StudioGAN's CIFAR-10 benchmark figure (IS / FID); their DCGAN is the non-saturating loss on a DCGAN network.
STUDIOGAN_PROTOCOL = "TF Inception, 50k generated vs the training set; StudioGAN's networks and budgets"
for _model, _variant, _is, _fid in [("DCGAN", "nsgan", "6.11", "48.29"), ("LSGAN", "lsgan", "6.55", "40.22"),
                                    ("WGAN-WC", "wgan", "3.59", "107.68"), ("WGAN-GP", "wgan_gp", "5.22", "53.98"),
                                    ("DRAGAN", None, "6.59", "34.69"), ("SNGAN (conditional)", None, "8.83", "9.01")]:
    REFERENCES["cifar10"].append(
        {"source": f"StudioGAN benchmark, {_model}", "variant": _variant, "is": _is, "fid": _fid,
         "protocol": STUDIOGAN_PROTOCOL,
         "requires": {"num_generated": 50_000, "reference_split": "train", "feature_extractor": "TF inception"}})
REFERENCE_FIELDS = {"source", "variant", "protocol", "requires"}    # every other key of a reference is a metric


def reference_metrics(ref: dict[str, Any]) -> list[str]:
    return [k for k in ref if k not in REFERENCE_FIELDS]


def protocol_satisfies(protocol: dict[str, Any] | None, requires: dict[str, Any]) -> bool:
    """Whether one of our metric protocols meets a published number's requirements (strings: case-insensitive
    substring, e.g. ``"TF inception"`` in the feature extractor's description; anything else: equality)."""
    if not protocol:
        return False
    for key, want in requires.items():
        have = protocol.get(key)
        if isinstance(want, str):
            if have is None or want.lower() not in str(have).lower():
                return False
        elif have != want:
            return False
    return True


def matching_references(runs: list[dict], dataset: str) -> list[tuple[dict[str, Any], list[str]]]:
    """The published numbers for ``dataset`` with the metrics whose protocol every completed, scored run of
    ``dataset`` meets (references with no such metric are left out)."""
    out = []
    for ref in REFERENCES.get(dataset, []):
        ok = []
        for m in reference_metrics(ref):
            protos = [(r.get("protocol") or {}).get(m) for r in runs
                      if r["dataset"] == dataset and r.get("status") == "completed" and m in (r.get("metrics") or {})]
            if protos and all(protocol_satisfies(p, ref.get("requires") or {}) for p in protos):
                ok.append(m)
        if ok:
            out.append((ref, ok))
    return out


LOWER_IS_BETTER = {"reverse_kl", "fid", "kid", "domain_fd", "stacked_kl"}
IGNORED_KEYS = {"seed", "group"}


def run_labels(runs: list[dict]) -> dict[str, str]:
    """Label each run with its variant plus the options that vary among runs of that variant and dataset
    (e.g. ``nsgan [minibatch_kernels=16]``), so a variant with and without a trick are separate rows."""
    by_cell: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in runs:
        by_cell[(r["variant"], r["dataset"])].append(r)
    labels = {}
    for (variant, _), cell in by_cell.items():
        keys = sorted({k for r in cell for k in r.get("config", {})} - IGNORED_KEYS)
        varying = [k for k in keys if len({repr(r.get("config", {}).get(k)) for r in cell}) > 1]
        for r in cell:
            extra = ", ".join(f"{k}={r['config'].get(k)}" for k in varying)
            labels[r["run_id"]] = f"{variant} [{extra}]" if extra else variant
    return labels


def _fmt(v: float | None, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, float) and math.isinf(v):
        return "∞"
    return f"{v:.{digits}g}" if abs(v) < 1000 else f"{v:.0f}"


def aggregate(runs: list[dict]) -> list[dict[str, Any]]:
    """One row per (dataset, label, metric): mean, std (over seeds), n, best value and best run id."""
    labels = run_labels(runs)
    cells: dict[tuple[str, str, str], list[tuple[float, str]]] = defaultdict(list)
    status: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for r in runs:
        key = (r["dataset"], labels[r["run_id"]])
        status[key][r.get("status", "failed")] += 1
        for m, v in (r.get("metrics") or {}).items():
            if v is not None and r.get("status") == "completed":
                cells[(r["dataset"], labels[r["run_id"]], m)].append((float(v), r["run_id"]))
    rows = []
    for (dataset, label), counts in sorted(status.items()):
        metric_names = sorted({m for (d, l, m) in cells if d == dataset and l == label})
        for m in metric_names or [""]:
            vals = cells.get((dataset, label, m), [])
            finite = [v for v, _ in vals if math.isfinite(v)]
            best = None
            if vals:
                pick = min if m in LOWER_IS_BETTER else max
                best = pick(vals, key=lambda t: t[0])
            rows.append({"dataset": dataset, "variant": label, "metric": m,
                         # an infinite value (e.g. reverse KL with no high-quality sample) makes the mean
                         # infinite: averaging only the finite seeds would hide the failed ones
                         "mean": (statistics.fmean(finite) if len(finite) == len(vals) else math.inf)
                         if vals else None,
                         "std": (statistics.stdev(finite) if len(finite) > 1 else 0.0)
                         if vals and len(finite) == len(vals) else None,
                         "n": len(vals), "best": best[0] if best else None, "best_run": best[1] if best else None,
                         "completed": counts.get("completed", 0), "diverged": counts.get("diverged", 0),
                         "failed": counts.get("failed", 0)})
    return rows


def protocol_line(runs: list[dict], dataset: str, metric: str) -> str:
    for r in runs:
        p = (r.get("protocol") or {}).get(metric)
        if r["dataset"] == dataset and p:
            keep = {k: v for k, v in p.items() if k not in ("metric", "seed")}
            return "; ".join(f"{k}: {v}" for k, v in keep.items())
    return ""


def summary_markdown(runs: list[dict], rows: list[dict]) -> str:
    out = io.StringIO()
    out.write("# GANBench summary\n\nBuilt from the run JSONs under `runs/` by `python -m benchmark report`. "
              "Cells are mean ± std over seeds (n = runs scored), then the best run. "
              "Statuses: completed / diverged / failed.\n")
    for dataset in sorted({r["dataset"] for r in rows}):
        drows = [r for r in rows if r["dataset"] == dataset]
        metrics = sorted({r["metric"] for r in drows if r["metric"]})
        variants = sorted({r["variant"] for r in drows})
        iters = sorted({run["steps"] for run in runs if run["dataset"] == dataset})
        out.write(f"\n## {dataset}\n\nGAN iterations per run: {', '.join(map(str, iters))}\n\n")
        out.write("| variant | runs (c/d/f) | " + " | ".join(
            f"{m} {'↓' if m in LOWER_IS_BETTER else '↑'}" for m in metrics) + " | best run |\n")
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
                    cells.append(f"{_fmt(r['mean'])} ± {_fmt(r['std'], 2)} (n={r['n']}; best {_fmt(r['best'])})")
            best_run = next((r["best_run"] for r in vr.values() if r["best_run"]), "–")
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


def ensure_sample_plots(runs: list[dict], results_dir: Path) -> list[Path]:
    """Re-draw any run's sample plot that is missing, from its kept samples."""
    from datamodules import get_datamodule

    from .plots import save_sample_plot

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


def build_report(results_dir: str | Path = "results") -> list[Path]:
    """Write ``summary.md``, ``summary.csv``, ``report.html`` (and missing sample plots), log the comparison as a
    ``wandb.Table`` (unless ``WANDB_MODE=disabled``); return the written paths."""
    results_dir = Path(results_dir)
    runs = load_runs(results_dir)
    if not runs:
        raise FileNotFoundError(f"no run files under {results_dir / 'runs'}: run a sweep first (./run_all.sh)")
    rows = aggregate(runs)
    md, cs = results_dir / "summary.md", results_dir / "summary.csv"
    atomic_write_text(md, summary_markdown(runs, rows))
    atomic_write_text(cs, summary_csv(rows))
    made = ensure_sample_plots(runs, results_dir)
    from .report_html import log_wandb_table, write_html_report

    html = write_html_report(results_dir, runs, rows)
    try:
        log_wandb_table(runs, rows)
    except Exception as e:          # tracking must never cost the report
        print(f"warning: W&B comparison table not logged: {e}")
    return [md, cs, html, *made]
