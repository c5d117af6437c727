"""results/report.html from fixture run files; the W&B comparison table; the SampleLogger callback."""
import re
import sys
import types
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from benchmark.io import atomic_write_json, load_runs
from benchmark.report import build_report
from benchmark.report.aggregate import aggregate
from benchmark.report.wandb_report import TABLE_COLUMNS, log_wandb_table
from benchmark.report.references import REFERENCES, matching_references
from benchmark.samples import save_sample_plot

TOY_PROTOCOL = {"implementation": "ganbench.mode_statistics", "num_generated": 2500, "num_modes": 8, "std": 0.02,
                "high_quality_within": "3 std of the nearest mode", "reference": "VEEGAN/PacGAN protocol"}
FID_PROTOCOL = {"implementation": "torch-fidelity 0.4.0", "num_generated": 10000, "num_real": 10000,
                "feature_extractor": "torch-fidelity inception-v3-compat (TF inception-2015-12-05)",
                "reference_dataset": "mnist", "reference_split": "train", "weights_sha256": "ab" * 32}


def history(iterations: int, every: int, rng, with_modes: bool = False) -> list[dict]:
    rows = []
    for it in range(every, iterations + 1, every):
        row = {"iteration": it, "d_loss": 1.3 - 0.3 * it / iterations + 0.02 * rng.standard_normal(),
               "g_loss": 0.7 + 0.2 * it / iterations, "d_real": 0.55, "d_fake": 0.45, "g_grad_norm": 0.1 + it / 1e4}
        if with_modes and it % (2 * every) == 0:
            row["modes_covered"] = min(8.0, 2.0 + 6 * it / iterations)
        rows.append(row)
    return rows


def write_run(root: Path, variant: str, dataset: str, seed: int, metrics: dict, protocol: dict, *, kind: str,
              group: str = "toy", status: str = "completed", steps: int = 400, **config) -> dict:
    rng = np.random.default_rng(seed)
    run_id = f"{variant}-{dataset}-s{seed}-{abs(hash((variant, dataset, seed, tuple(config.items())))) % 10**10:010d}"
    rec = {"run_id": run_id, "variant": variant, "dataset": dataset, "seed": seed, "status": status, "steps": steps,
           "wall_time_s": 12.5, "metrics": metrics, "protocol": {m: dict(protocol, metric=m) for m in metrics},
           "config": {"variant": variant, "data": dataset, "seed": seed, "iterations": steps, **config},
           "history": history(steps, 50, rng, with_modes=kind == "points"), "group": group,
           "finished_at": f"2026-01-0{seed + 1}T00:00:00+00:00",
           "versions": {"torch": "2.14.1", "pytorch_lightning": "2.6.6"}}
    if kind == "points":
        ring = 2.0 * np.stack([np.cos(np.arange(8) * np.pi / 4), np.sin(np.arange(8) * np.pi / 4)], 1)
        samples = (ring[rng.integers(0, 8, 64)] + 0.02 * rng.standard_normal((64, 2))).astype(np.float32)
        png = save_sample_plot(samples, "points", root / "samples" / f"{run_id}.png", modes=ring)
    else:
        samples = rng.integers(0, 256, (16, 1, 28, 28), dtype=np.uint8)
        png = save_sample_plot(samples, "image", root / "samples" / f"{run_id}.png")
    np.save(root / "samples" / f"{run_id}.npy", samples)
    rec["samples"], rec["sample_plot"] = f"samples/{run_id}.npy", str(png.relative_to(root))
    atomic_write_json(root / "runs" / f"{run_id}.json", rec)
    return rec


@pytest.fixture
def results(tmp_path: Path) -> Path:
    for seed in (0, 1):
        write_run(tmp_path, "nsgan", "ring8", seed, {"mmd": 0.001 * (1 + seed), "modes_covered": 7.0 + seed,
                                                      "high_quality": 80.0 + seed, "reverse_kl": 0.2 - 0.1 * seed},
                  TOY_PROTOCOL, kind="points")
        # ring8's noise baseline scores mmd ≈ 0.041: wgan_gp beats it, by less than nsgan
        write_run(tmp_path, "wgan_gp", "ring8", seed, {"mmd": 0.03, "modes_covered": 5.0, "high_quality": 40.0,
                                                        "reverse_kl": 0.5}, TOY_PROTOCOL, kind="points")
    # MNIST scored under Lucic et al.'s protocol (10k samples, TF Inception): their numbers appear beside ours
    write_run(tmp_path, "nsgan", "mnist", 0, {"fid": 31.25, "kid": 0.02}, FID_PROTOCOL, kind="image", group="mnist")
    write_run(tmp_path, "lsgan", "mnist", 0, {"fid": 44.5, "kid": 0.03}, FID_PROTOCOL, kind="image", group="mnist")
    # Fashion-MNIST scored with 5k samples: another protocol, so Lucic et al.'s numbers must not appear
    write_run(tmp_path, "nsgan", "fashion_mnist", 0, {"fid": 60.0}, dict(FID_PROTOCOL, num_generated=5000),
              kind="image", group="mnist")
    write_run(tmp_path, "wgan", "ring8", 0, {}, TOY_PROTOCOL, kind="points", status="failed")
    return tmp_path


class Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.imgs: list[str] = []
        self.ids: list[str] = []
        self.hrefs: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.hrefs.append(a["href"][1:])

    def handle_data(self, data):
        self.text.append(data)


def test_html_report_tables_plots_and_references(results):
    paths = build_report(results)          # WANDB_MODE=disabled (conftest): no W&B run
    page = results / "report.html"
    assert page in paths
    doc = Collector()
    doc.feed(page.read_text())
    text = " ".join(doc.text)
    # the leaderboard comes first: ring8 ranks nsgan (mmd 0.001, 0.002) above wgan_gp (0.03, 0.03): intervals apart
    page_text = page.read_text()
    assert page_text.index('id="leaderboard"') < page_text.index('id="ring8"')
    assert re.search(r'<td class="num best"><span class="rank">#1</span> <span class="v">0.0015 \[0.001, 0.002\]',
                     page_text)
    assert re.search(r'<span class="rank">#2</span> <span class="v">0.03 \[0.03, 0.03\]', page_text)
    # the three baselines under the leaderboard and in the dataset's table, scored like the runs
    board = page_text[:page_text.index('id="ring8"')]
    for b in ("true data (a fresh sample)", "noise (ignores the data)", "collapsed (one mode)"):
        assert f"baseline: {b}" in board and f"baseline: {b}" in page_text[page_text.index('id="ring8"'):]
    assert (results / "baselines.json").exists()
    # the comparison table: median [95% interval], then mean ± std with n and the best run, best median marked
    assert "mean 7.5 ± 0.71 · n=2 · best 8" in text and "n=1 (one seed: no spread)" in text
    assert re.search(r'class="num best"><span class="v">7.5 \[7, 8\]', page_text)
    assert "1/0/0" in text                                            # the failed wgan run is counted
    assert "Failed runs" in text and "wgan-ring8-s0" in text
    assert "hyper-parameters" in text and "iterations: 400" in text and "data: 'ring8'" in text  # config per row
    # protocol lines under the tables, identical protocols on one line
    assert "high_quality, mmd, modes_covered, reverse_kl" in text and "3 std of the nearest mode" in text
    # published numbers only where the dataset appears and the protocol matches, our medians beneath them
    assert "PacGAN" in text and "6.3 ± 0.5" in text                   # ring8, 2,500 samples
    assert "GANBench nsgan (median [95% interval])" in text
    assert "our counterpart" in text                                  # mnist: Lucic et al. name our variants
    ring8 = page_text[page_text.index('id="ring8"'):]
    assert "our counterpart" not in ring8[:ring8.index("Training curves")]   # PacGAN/VEEGAN name none: no column
    assert "Lucic et al. 2018, NS GAN: 6.8 ± 0.5" in text             # beside our nsgan on mnist
    assert "Lucic et al. 2018, LSGAN: 7.8 ± 0.6" in text
    assert "26.5 ± 1.6" not in text and "not shown" in text           # fashion_mnist: 5k samples ≠ 10k
    assert "55.0 ± 3.3" not in text and "StudioGAN" not in text       # celeba / cifar10 never ran
    assert "grid25" not in doc.ids                                    # no section for data that never ran
    # every in-page link resolves; every image is inline: the file works copied alone
    assert set(doc.hrefs) <= set(doc.ids) and {"ring8", "mnist", "fashion_mnist", "failed", "leaderboard"} <= set(doc.ids)
    assert doc.imgs and all(s.startswith("data:image/png;base64,") for s in doc.imgs)
    assert len(doc.imgs) >= 5 + 6                   # plots + one sample image per run (a failed run has one too)
    assert "Mode coverage" in text and "Metrics vs GAN iteration" in text
    # summary.md carries the same references rule
    md = (results / "summary.md").read_text()
    assert "Lucic et al. 2018, NS GAN | 6.8 ± 0.5" in md and "26.5 ± 1.6" not in md


def test_matching_references_follow_the_protocol(results):
    runs = load_runs(results)
    assert {ref["source"] for ref, _ in matching_references(runs, "mnist")} >= {"Lucic et al. 2018, NS GAN"}
    assert matching_references(runs, "fashion_mnist") == []
    assert matching_references(runs, "cifar10") == []
    assert any("StudioGAN" in r["source"] for r in REFERENCES["cifar10"])
    assert {"mnist", "fashion_mnist", "cifar10", "celeba"} <= set(REFERENCES)


class FakeWandb(types.ModuleType):
    """Records what the report step sends to W&B."""

    def __init__(self) -> None:
        super().__init__("wandb")
        self.inits: list[dict] = []
        self.logged: list[dict] = []
        self.finished = 0
        outer = self

        class Table:
            def __init__(self, columns, data):
                self.columns, self.data = columns, data

        class Run:
            dir = "/fake/run/files"
            summary: dict = {}

            def log(self, d):
                outer.logged.append(d)

            def finish(self):
                outer.finished += 1

        self.Table = Table
        self._run = Run

    def Settings(self, **kw):
        return kw

    def init(self, **kw):
        self.inits.append(kw)
        return self._run()


def test_comparison_table_is_logged_to_wandb(results, monkeypatch):
    fake = FakeWandb()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    runs = load_runs(results)
    rows = aggregate(runs)
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert log_wandb_table(runs, rows) is None and fake.inits == []
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(results / "wandb"))
    assert log_wandb_table(runs, rows) == "/fake/run/files"
    (init,) = fake.inits
    assert init["job_type"] == "report" and init["mode"] == "offline" and init["group"] == "toy"  # latest run's
    (logged,) = fake.logged
    table = logged["comparison"]
    assert table.columns == TABLE_COLUMNS and fake.finished == 1
    by_key = {(r[0], r[1], r[2]): dict(zip(TABLE_COLUMNS, r)) for r in table.data}
    assert by_key[("ring8", "nsgan", "modes_covered")]["mean"] == 7.5
    assert by_key[("ring8", "nsgan", "modes_covered")]["median"] == 7.5
    assert by_key[("ring8", "nsgan", "modes_covered")]["ci_low"] == 7.0
    assert "NS GAN: 6.8 ± 0.5" in by_key[("mnist", "nsgan", "fid")]["published"]
    assert by_key[("fashion_mnist", "nsgan", "fid")]["published"] == ""


def test_sample_logger_logs_uint8_images_without_changing_training():
    import pytorch_lightning as pl
    from pytorch_lightning.loggers.logger import Logger

    from benchmark.train.callbacks import SampleLogger
    from datamodules import get_datamodule
    from models import get_variant

    class Capture(Logger):
        name, version, experiment = "capture", "0", None

        def __init__(self):
            super().__init__()
            self.images, self.metrics = [], []

        def log_metrics(self, metrics, step=None):
            self.metrics.append((step, metrics))

        def log_hyperparams(self, params, *args, **kwargs):
            pass

        def log_image(self, key, images, step=None, **kwargs):
            self.images.append((key, step, images))

    def train(callbacks, logger):
        pl.seed_everything(0, verbose=False)
        dm = get_datamodule("ring8")(batch_size=64, num_samples=512)
        dm.setup()
        model = get_variant("nsgan")(data_shape=dm.dims, num_classes=dm.num_classes, data_kind=dm.kind,
                                     hidden=16, iterations=6, log_every=2)
        trainer = pl.Trainer(accelerator="cpu", devices=1, max_epochs=-1, logger=logger, callbacks=callbacks,
                             enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
                             num_sanity_val_steps=0, log_every_n_steps=10**6)
        trainer.fit(model, datamodule=dm)
        return model

    cap = Capture()
    with_cb = train([SampleLogger(2, num_samples=300)], cap)
    without = train([], Capture())
    assert [(k, s) for k, s, _ in cap.images] == [("samples", 2), ("samples", 4)]     # not the last iteration
    img = cap.images[0][2][0]
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3 and img.std() > 0
    assert any("eval/modes_covered" in m for _, m in cap.metrics)
    assert "modes_covered" in with_cb.history[0] and "modes_covered" not in without.history[0]
    strip = [{k: v for k, v in row.items()
              if k not in ("modes_covered", "modes_covered_strict", "high_quality", "reverse_kl")}
             for row in with_cb.history]
    assert strip == without.history                                   # RNG forked: identical training
    with pytest.raises(ValueError):
        SampleLogger(0)


def test_lucic_dragan_and_began_rows_stand_beside_ours_under_their_protocol(tmp_path):
    # issue 28: every row of Lucic et al.'s table has a GANBench counterpart; runs scored under their protocol
    # (10k samples, TF Inception) show their DRAGAN and BEGAN FIDs in our dragan and began rows, nowhere else
    from benchmark.report.wandb_report import comparison_table_rows

    for variant, fid in (("dragan", 12.5), ("began", 20.25), ("nsgan", 9.5)):
        write_run(tmp_path, variant, "mnist", 0, {"fid": fid}, FID_PROTOCOL, kind="image", group="mnist")
    build_report(tmp_path)
    page = (tmp_path / "report.html").read_text()
    mnist = page[page.index('id="mnist"'):]
    rows = {seg.split("<", 1)[0]: seg for seg in mnist.split("<tr><th>")[1:]}
    assert "Lucic et al. 2018, DRAGAN: 7.6 ± 0.4" in rows["dragan"]
    assert "Lucic et al. 2018, BEGAN: 13.1 ± 1.0" in rows["began"]
    assert "BEGAN" not in rows["dragan"] and "DRAGAN" not in rows["began"] and "DRAGAN" not in rows["nsgan"]
    doc = Collector()
    doc.feed(page)
    text = " ".join(doc.text)
    assert "GANBench dragan (median [95% interval])" in text and "GANBench began (median [95% interval])" in text
    md = (tmp_path / "summary.md").read_text()
    assert "Lucic et al. 2018, DRAGAN | 7.6 ± 0.4" in md and "Lucic et al. 2018, BEGAN | 13.1 ± 1.0" in md
    runs = load_runs(tmp_path)
    published = {r[1]: r[-1] for r in comparison_table_rows(runs, aggregate(runs)) if r[0] == "mnist" and r[2] == "fid"}
    assert published["dragan"] == "Lucic et al. 2018, DRAGAN: 7.6 ± 0.4"
    assert published["began"] == "Lucic et al. 2018, BEGAN: 13.1 ± 1.0"
