"""Parts of report.html: in-training metric curves, off-range samples, colours, strip and trial plots, and a
self-contained file (no external reference; rendered alone in headless Chromium when it is installed)."""
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import models
from benchmark.io import atomic_write_json
from benchmark.report import build_report
from benchmark.report.aggregate import aggregate
from benchmark.report.figures import (
    PALETTE,
    outside_fraction,
    plot_metric_vs_iteration,
    plot_training_scalars,
    trial_curves,
    variant_color,
)

CHROMIUM = Path("/usr/bin/chromium")


def eval_history(final: float) -> list[dict]:
    """History rows as MetricTracker writes them (``eval_every``): ``eval/<metric>`` beside the losses."""
    return [{"iteration": it, "d_loss": 1.0, "g_loss": 0.7, "eval/modes_covered": final * it / 200,
             "eval/high_quality": 10.0} for it in (50, 100, 150, 200)]


def test_metrics_vs_iteration_reads_the_eval_history_rows():
    by_label = {"nsgan": [{"variant": "nsgan", "history": eval_history(8.0), "status": "completed", "config": {},
                           "steps": 200}]}
    assert plot_metric_vs_iteration(by_label, ["modes_covered", "high_quality"]) is not None
    # the in-training scores are not also drawn as "other training scalars"
    assert plot_training_scalars({"nsgan": [{"history": [{k: v for k, v in row.items() if k != "d_loss"}
                                                         for row in eval_history(8.0)]}]}, skip=set()) is None


def test_every_registered_variant_has_its_own_fixed_colour(monkeypatch):
    colours = [variant_color(v) for v in models.VARIANTS]
    assert len(set(colours)) == len(colours)
    assert colours[:len(PALETTE)] == list(PALETTE[:len(colours)])          # registration order picks the colour
    assert variant_color("wgan") == "#d62728" and variant_color("nsgan") == "#ff7f0e"    # the published plots'
    # a variant registered later, and an unregistered one (an old run file's), get a colour of their own, always
    from benchmark.report import figures

    extra = tuple(models.VARIANTS) + tuple(f"new{i}" for i in range(4 + len(PALETTE)))
    monkeypatch.setattr(figures, "variant_order", lambda: extra)
    more = [variant_color(v) for v in extra]
    assert len(set(more)) == len(more) and all(len(c) == 7 and c.startswith("#") for c in more)
    monkeypatch.undo()
    assert variant_color("unregistered") == variant_color("unregistered") not in colours


def test_outside_fraction_counts_points_off_the_plot():
    pts = np.array([[0.0, 0.0], [1.0, -1.0], [-66.0, 0.5], [np.nan, 0.0]])
    assert outside_fraction(pts, 2.9) == 0.5 and outside_fraction(pts[:2], 2.9) == 0.0


def test_best_score_vs_trials_follows_trial_order():
    runs = []
    for idx, modes in [(2, 3.0), (0, 5.0), (1, 4.0), (3, 8.0)]:       # written out of order
        t = {"sweep": "s", "index": idx, "params": {"lr_g": 1e-3 * (idx + 1)}}
        runs += [{"run_id": f"r{idx}-{s}", "variant": "lsgan", "dataset": "ring8", "seed": s, "status": "completed",
                  "trial": t, "metrics": {"modes_covered": modes}, "config": {"lr_g": 1e-3 * (idx + 1)}}
                 for s in range(2)]
    assert trial_curves(aggregate(runs), "ring8", "modes_covered") == {"lsgan": ([1, 2, 3, 4], [5.0, 5.0, 5.0, 8.0])}


def write(root: Path, variant: str, seed: int, samples: np.ndarray, modes: float, **extra) -> None:
    run_id = f"{variant}-ring8-s{seed}-{abs(hash((variant, seed))) % 10**8}"
    (root / "samples").mkdir(parents=True, exist_ok=True)
    np.save(root / "samples" / f"{run_id}.npy", samples.astype(np.float32))
    atomic_write_json(root / "runs" / f"{run_id}.json", {
        "run_id": run_id, "variant": variant, "dataset": "ring8", "seed": seed, "status": "completed", "steps": 200,
        "metrics": {"modes_covered": modes, "high_quality": 50.0}, "config": {"variant": variant, "lr_g": 2e-3},
        "history": eval_history(modes), "samples": f"samples/{run_id}.npy", **extra})


@pytest.fixture
def report(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    ring = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
    for seed in range(3):
        write(tmp_path, "nsgan", seed, ring[rng.integers(0, 8, 200)] + 0.02 * rng.standard_normal((200, 2)), 8.0)
        far = np.concatenate([np.full((150, 2), -66.0), ring[rng.integers(0, 8, 50)]])   # 75% off the plot
        write(tmp_path, "ratio_matching", seed, far, 2.0 + seed)
    build_report(tmp_path)
    return tmp_path / "report.html"


class Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.refs += [v for k, v in attrs if k in ("src", "href") and v is not None]


def test_report_is_self_contained_and_flags_off_range_samples(report):
    page = report.read_text()
    parser = Refs()
    parser.feed(page)
    assert parser.refs
    external = [r for r in parser.refs if not r.startswith(("#", "data:image/png;base64,"))]
    assert external == []
    assert not re.search(r"url\((?!data:)", page)                  # no stylesheet reference either
    assert "75% of its samples lie outside the plotted range" in page and "x≈-66" in page
    assert "Metrics vs GAN iteration" in page and "Not recorded for these runs" not in page
    assert "per seed (one dot per completed seed" in page           # the strip plot of the primary metric


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed (apt-get install chromium)")
def test_report_copied_alone_renders_in_headless_chromium(report, tmp_path_factory):
    alone = tmp_path_factory.mktemp("alone")
    shutil.copy(report, alone / "report.html")
    shot = alone / "first-screen.png"
    out = subprocess.run([str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", f"--screenshot={shot}",
                          "--window-size=1280,900", f"file://{alone / 'report.html'}"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert shot.is_file() and shot.stat().st_size > 10_000, out.stderr[-2000:]
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB"))
    assert img.shape[:2] == (900, 1280) and img.std() > 10            # not a blank page


def test_a_conditional_variant_is_not_marked_best_among_unconditional_ones(tmp_path):
    rng = np.random.default_rng(1)
    for seed in range(2):
        write(tmp_path, "cgan", seed, rng.standard_normal((50, 2)), 8.0)
        write(tmp_path, "nsgan", seed, rng.standard_normal((50, 2)), 5.0)
    build_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    table = page[page.index('id="ring8"'):]
    table = table[:table.index("</table>")]
    # both are the best of their kind; nsgan's 5 is green although cgan covers 8 modes
    assert re.search(r'class="num best"><span class="v">5 \[5, 5\]', table)
    assert re.search(r'class="num best"><span class="v">8 \[8, 8\]', table)
    assert "conditional</span>" in table


def test_a_search_shows_its_best_trial_and_the_trials_plot(tmp_path):
    rng = np.random.default_rng(2)
    for idx, modes in enumerate([3.0, 7.0, 5.0]):
        t = {"sweep": "toy_search", "index": idx, "params": {"lr_g": 10.0 ** -(idx + 2)}}
        for seed in range(2):
            write(tmp_path, "lsgan", seed + 10 * idx, rng.standard_normal((50, 2)), modes, trial=t)
    build_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    table = page[page.index('id="ring8"'):]
    table = table[:table.index("</table>")]
    assert "lsgan · trial 1" in table and "lsgan · trial 0" not in table and "lsgan · trial 2" not in table
    assert "trial: toy_search #1 searched {&#x27;lr_g&#x27;: 0.001}" in table          # its hyper-parameters
    assert "Hyper-parameter search" in page and "Best median modes_covered reached vs number of trials" in page
    assert "best of 3 trials: #1" in page                                             # the leaderboard cell
