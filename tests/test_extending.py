"""Adding a variant, a metric or a dataset is one new file plus one registration line each (README, "Layout").

A temporary copy of the packages gets three new files (an RpGAN variant, a sliced-Wasserstein metric, a
two-moons dataset) and one appended import line in each registration module, and nothing else; then ``list``,
one tiny ``run`` of the new variant on the new dataset scored with the new metric, and ``report`` must work
there, each in a fresh process (``benchmark/catalogue.json`` is stale in the copy: ``list`` reads the registries).
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

VARIANT = '''
"""RpGAN (Jolicoeur-Martineau 2019, relativistic pairing): D and G compare a real and a fake score."""
from __future__ import annotations

import torch.nn.functional as F

from ..base import Critique, GANModule
from ..registry import register_variant


@register_variant
class RpGAN(GANModule):
    """min_D E softplus(D(G(z)) - D(x));  min_G E softplus(D(x) - D(G(z)))."""

    name = "rpgan"
    g_needs_real = True

    def d_loss(self, real: Critique, fake: Critique):
        return F.softplus(fake.score - real.score).mean()

    def g_loss(self, fake: Critique, real: Critique | None):
        return F.softplus(real.score - fake.score).mean()
'''

METRIC = '''
"""Sliced Wasserstein distance between generated and real points (mean over random 1-D projections)."""
from __future__ import annotations

import torch

from .registry import Metric, MetricGroup, register_metric_group


class SlicedWasserstein(MetricGroup):
    metrics = (Metric("swd", False, cheap=True, summary="sliced Wasserstein-1 distance"),)
    num_samples = 512

    def unsupported(self, datamodule):
        return None if getattr(datamodule, "kind", None) == "points" else "the sliced distance needs 2-D points"

    def __call__(self, fake, datamodule, *, seed=0, fake_labels=None):
        real, _ = datamodule.reference(fake.shape[0], seed=seed)
        g = torch.Generator().manual_seed(seed)
        dirs = torch.nn.functional.normalize(torch.randn(64, real.shape[1], generator=g), dim=1)
        a, b = (real.float() @ dirs.T).sort(0).values, (fake.float().cpu() @ dirs.T).sort(0).values
        return ({"swd": float((a - b).abs().mean())},
                {"swd": {"implementation": "test swd", "projections": 64, "num_generated": int(fake.shape[0]),
                         "seed": seed}})


register_metric_group(SlicedWasserstein())
'''

DATASET = '''
"""Two interleaved half circles ("two moons") with Gaussian noise: embedded, nothing to download."""
from __future__ import annotations

import math

import torch

from .base import GANDataModule
from .registry import register_datamodule


@register_datamodule
class TwoMoonsDataModule(GANDataModule):
    """Two moons in 2-D, noise std ``noise``."""

    name = "moons"
    kind = "points"
    dims = (2,)
    metrics = ("swd",)

    def __init__(self, batch_size: int = 256, seed: int = 0, on_device: bool = False, num_samples: int = 2000,
                 noise: float = 0.05) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device)
        self.num_samples, self.noise = num_samples, noise

    def load(self):
        g = torch.Generator().manual_seed(0)
        t = torch.rand(self.num_samples, generator=g) * math.pi
        upper = torch.rand(self.num_samples, generator=g) < 0.5
        x = torch.where(upper[:, None], torch.stack([t.cos(), t.sin()], 1),
                        torch.stack([1 - t.cos(), 0.5 - t.sin()], 1))
        return x + self.noise * torch.randn(self.num_samples, 2, generator=g), None
'''

# (new file, its content, the registration module, the one line appended to it)
ADDITIONS = [
    ("models/variants/rpgan.py", VARIANT, "models/variants/__init__.py", "from . import rpgan  # noqa: F401"),
    ("benchmark/score/swd.py", METRIC, "benchmark/score/__init__.py", "from . import swd  # noqa: F401"),
    ("datamodules/moons.py", DATASET, "datamodules/__init__.py", "from . import moons  # noqa: F401"),
]


def copy_packages(dest: Path) -> None:
    for pkg in ("benchmark", "models", "datamodules"):
        shutil.copytree(ROOT / pkg, dest / pkg, ignore=shutil.ignore_patterns("__pycache__"))


def test_a_new_variant_metric_and_dataset_are_one_file_and_one_line_each(tmp_path):
    pkg = tmp_path / "pkg"
    copy_packages(pkg)
    before = {p.relative_to(pkg): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
    for new, text, registration, line in ADDITIONS:
        (pkg / new).write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
        with open(pkg / registration, "a", encoding="utf-8") as f:
            f.write(line + "\n")
    after = {p.relative_to(pkg): p.read_bytes() for p in pkg.rglob("*") if p.is_file()}
    changed = {str(p) for p in after if before.get(p) != after[p]}
    assert changed == {n for n, *_ in ADDITIONS} | {r for _, _, r, _ in ADDITIONS}     # nothing else was touched

    env = {**os.environ, "PYTHONPATH": str(pkg), "WANDB_MODE": "disabled", "WANDB_SILENT": "true", "CI": "true"}

    def cli(*argv):
        out = subprocess.run([sys.executable, "-m", "benchmark", *argv], cwd=tmp_path, env=env, capture_output=True,
                             text=True, timeout=600)
        assert out.returncode == 0, f"{argv}: {out.stderr[-3000:]}"
        return out.stdout

    listing = cli("list")
    assert "  rpgan " in listing and "  moons " in listing and "metrics: swd" in listing and "  swd " in listing
    results = tmp_path / "results"
    cli("run", "--variant", "rpgan", "--data", "moons", "--seed", "0", "--iterations", "20", "--hidden", "8",
        "--batch-size", "64", "--log-every", "10", "--threads", "1", "--results-dir", str(results))
    (run_file,) = (results / "runs").glob("rpgan-moons-s0-*.json")
    rec = json.loads(run_file.read_text())
    assert rec["status"] == "completed" and rec["steps"] == 20 and rec["metrics"]["swd"] > 0
    cli("report", "--results-dir", str(results))
    summary = (results / "summary.md").read_text()
    assert "rpgan" in summary and "moons" in summary and "swd" in summary
    assert (results / "report.html").exists()
