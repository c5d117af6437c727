"""``perf --suite gpu`` without a GPU: its plan, time guard and report run on the CPU at tiny sizes (the same code
path as on CUDA), and the command itself refuses clearly where CUDA is missing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from benchmark.perf.gpu import Item, Plan, build_plan, run_items, run_suite, to_markdown

ROOT = Path(__file__).parents[2]
TINY = Plan(device="cpu", variants=("nsgan", "wgan_gp"), iterations=3, warmup=1, mlp_batch=16, dcgan_batch=4,
            ring_sizes=(1, 2), dcgan_sizes=(1,), population_iterations=3, inception_images=0, modes=("fp32",),
            compile_variants=(), extra={"hidden": 8, "width": 4, "fuse_iterations": 1})


def test_the_full_plan_covers_every_variant_mode_and_size():
    import models

    items = build_plan(Plan())
    labels = {i.label for i in items}
    for v in models.VARIANTS:
        for net in ("mlp", "dcgan"):
            assert {f"{v} {net} fp32", f"{v} {net} bf16"} <= labels
        assert f"{v} dcgan bf16 + channels-last" in labels
    assert {f"nsgan mlp S={s}" for s in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)} <= labels
    assert {f"nsgan dcgan S={s}" for s in (1, 2, 4, 8, 16, 32)} <= labels
    assert "nsgan mlp compile" in labels and items[0].section == "inception"
    assert items[-1].kind == "compile"                    # the costliest come last, where the guard cuts


def test_the_tiny_suite_runs_on_the_cpu_and_writes_its_report(tmp_path, one_thread):
    res = run_suite(TINY, budget_s=1e6, command="test", results_dir=str(tmp_path))
    rows = res["rows"]
    assert [r["status"] for r in rows] == ["ok"] * len(rows), [r.get("note") for r in rows]
    assert len(rows) == 4 + 2 * (1 + 2) - 1                   # 2 variants x 2 networks; single + S=1,2; single + S=1
    assert all(r["it_s"] > 0 for r in rows if r["section"] == "variants")
    assert all(r["member_it_s"] > 0 for r in rows if r.get("size"))
    md = (tmp_path / "perf_gpu.md").read_text()
    assert md == to_markdown(res) and (tmp_path / "perf_gpu.json").is_file()
    assert "| wgan_gp | " in md and "| 2 | " in md and "Not measured" not in md


class FakeClock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def test_the_time_guard_skips_what_would_pass_the_budget_and_says_why():
    clock = FakeClock()
    ran = []

    def work(seconds, name):
        def run():
            clock.t += seconds
            ran.append(name)
            return {"it_s": 1.0}
        return run

    info = {"variant": "nsgan", "network": "mlp", "mode": "fp32", "batch_size": 1}
    items = [Item("variants", "a", "variant", work(10, "a"), 1.0, info),
             Item("variants", "b", "variant", work(10, "b"), 1.0, info),      # estimate 10: 20 + 10 <= 35
             Item("variants", "c", "variant", work(10, "c"), 2.0, info),      # estimate 20: 30 + 20 > 35
             Item("variants", "d", "variant", work(1, "d"), 0.1, info)]       # estimate 1: still fits
    rows = run_items(items, budget_s=35, clock=clock, echo=lambda s: None)
    assert ran == ["a", "b", "d"]
    assert [r["status"] for r in rows] == ["ok", "ok", "skipped", "ok"]
    assert "time guard" in rows[2]["note"] and "35 s budget" in rows[2]["note"]


def test_a_failing_item_is_recorded_and_the_suite_goes_on():
    def boom():
        raise RuntimeError("CUDA out of memory\nmore")

    info = {"variant": "x", "network": "mlp", "mode": "fp32", "batch_size": 1}
    rows = run_items([Item("variants", "x", "variant", boom, 1.0, info),
                      Item("variants", "y", "variant", lambda: {"it_s": 2.0}, 1.0, {**info, "variant": "y"})],
                     budget_s=1e6, echo=lambda s: None)
    assert rows[0]["status"] == "failed" and rows[0]["note"] == "RuntimeError: CUDA out of memory"
    assert rows[1]["status"] == "ok"


def test_a_zero_budget_skips_everything_and_the_report_lists_it():
    rows = run_items(build_plan(Plan(device="cpu", variants=("nsgan",))), budget_s=0, echo=lambda s: None)
    assert rows and all(r["status"] == "skipped" for r in rows)
    res = {"machine": "m", "command": "c", "budget_s": 0.0, "elapsed_s": 0.0,
           "plan": {"warmup": 10, "iterations": 50, "mlp_batch": 512, "dcgan_batch": 64}, "rows": rows}
    md = to_markdown(res)
    assert "skipped (time)" in md and "## Not measured" in md and "nsgan mlp S=1024: skipped: time guard" in md


def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT), "WANDB_MODE": "disabled"}
    return subprocess.run([sys.executable, "-m", "benchmark", "perf", "--suite", "gpu", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA: the suite would run")
def test_without_cuda_the_command_refuses_with_exit_2_and_writes_nothing(tmp_path):
    p = _cli("--results-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert p.returncode == 2
    errors = [line for line in p.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs a CUDA GPU" in errors[0] and "--dry-run" in errors[0]
    assert not (tmp_path / "out").exists()
    dry = _cli("--dry-run", "--variants", "nsgan", "--results-dir", str(tmp_path / "out"), cwd=tmp_path)
    assert dry.returncode == 0 and "nsgan mlp S=1024" in dry.stdout and "nothing run" in dry.stdout
    assert not (tmp_path / "out").exists()
    bad = _cli("--variants", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unknown variant(s) nope" in bad.stderr

