"""Accelerator fast paths on the CPU: channels_last, bf16 autocast, torch.compile and its eager fallback."""
import pytest
import torch

from benchmark.train.run import execute

TINY = {"iterations": 3, "log_every": 1, "save_samples": 8, "metrics": "modes_covered", "threads": 1}


def test_channels_last_dcgan_step(tmp_path):
    rec = execute({"variant": "nsgan", "data": "digits", "arch": "dcgan", "width": 8, "batch_size": 16,
                   "channels_last": True, "results_dir": str(tmp_path), **{**TINY, "metrics": "domain_fd"}})
    assert rec["status"] == "completed", rec.get("error")
    assert rec["fast_paths"]["channels_last"] == "on" and rec["fast_paths"]["fuse_iterations"] == "10"


def test_channels_last_is_skipped_for_points(tmp_path):
    rec = execute({"variant": "nsgan", "data": "ring8", "hidden": 8, "batch_size": 32, "channels_last": True,
                   "results_dir": str(tmp_path), **TINY})
    assert rec["status"] == "completed" and rec["fast_paths"]["channels_last"].startswith("skipped")


def test_bf16_autocast_trains(tmp_path):
    rec = execute({"variant": "wgan_gp", "data": "ring8", "hidden": 8, "batch_size": 32, "precision": "bf16-mixed",
                   "results_dir": str(tmp_path), **TINY})
    assert rec["status"] == "completed", rec.get("error")
    assert all(torch.isfinite(torch.tensor(h["g_loss"])) for h in rec["history"])


def test_compile_falls_back_to_eager_when_unavailable(tmp_path, monkeypatch):
    def broken_compile(self, *a, **k):
        raise RuntimeError("no compiler here")

    monkeypatch.setattr(torch.nn.Module, "compile", broken_compile)
    rec = execute({"variant": "nsgan", "data": "ring8", "hidden": 8, "batch_size": 32, "compile": True,
                   "results_dir": str(tmp_path), **TINY})
    assert rec["status"] == "completed", rec.get("error")
    assert rec["fast_paths"]["compile"].startswith("fell back to eager") and "no compiler here" in rec["fast_paths"]["compile"]


def test_fast_paths_do_not_change_the_run_identity(tmp_path):
    a = execute({"variant": "nsgan", "data": "ring8", "hidden": 8, "batch_size": 32, "results_dir": str(tmp_path),
                 **TINY})
    from benchmark.train.options import resolve
    from benchmark.io import run_id

    b = resolve({"variant": "nsgan", "data": "ring8", "hidden": 8, "batch_size": 32, "compile": True,
                 "channels_last": True, **TINY})
    assert run_id(b.config()) == a["run_id"]
