"""`run` without --threads uses one intra-op thread for the MLPs on a CPU, as sweeps do (torch's default was up to
8x slower on a busy 2-core machine: 373 s against 45 s for 60 wgan_gp iterations on ring8)."""
import json

import torch

from benchmark.cli import main
from benchmark.train.options import RunOptions, auto_threads


def test_auto_threads_is_one_for_mlps_on_the_cpu_and_torch_default_otherwise():
    assert auto_threads(RunOptions(accelerator="cpu"), "mlp") == 1
    assert auto_threads(RunOptions(accelerator="cpu"), "dcgan") == 0
    assert auto_threads(RunOptions(accelerator="gpu"), "mlp") == 0
    assert auto_threads(RunOptions(accelerator="auto"), "mlp") == (0 if torch.cuda.is_available() else 1)


def test_a_run_records_the_threads_it_used(tmp_path):
    torch.set_num_threads(2)                        # conftest restores it
    common = ["run", "--variant", "nsgan", "--iterations", "2", "--metrics", "modes_covered", "--save-samples", "0",
              "--wandb", "disabled", "--accelerator", "cpu"]
    assert main([*common, "--results-dir", str(tmp_path / "a")]) == 0
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "a" / "runs").glob("*.json")]
    assert rec["threads"] == 1
    torch.set_num_threads(2)
    assert main([*common, "--threads", "2", "--results-dir", str(tmp_path / "b")]) == 0
    (rec,) = [json.loads(p.read_text()) for p in (tmp_path / "b" / "runs").glob("*.json")]
    assert rec["threads"] == 2
