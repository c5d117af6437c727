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


def test_bf16_on_a_cpu_without_native_bf16_warns_and_perf_md_names_the_features(tmp_path):
    from benchmark.perf.harness import to_markdown
    from benchmark.train.options import bf16_cpu_warning, cpu_flags

    amd = {"fpu", "sse4_2", "avx", "avx2", "fma"}                     # an EPYC without AVX-512
    cpu = RunOptions(accelerator="cpu", precision="bf16-mixed")
    warning = bf16_cpu_warning(cpu, amd)
    assert warning.startswith("warning: --precision bf16-mixed on a CPU without native bf16") and "32-true" in warning
    assert bf16_cpu_warning(cpu, amd | {"avx512_bf16"}) is None and bf16_cpu_warning(cpu, amd | {"amx_bf16"}) is None
    assert bf16_cpu_warning(RunOptions(accelerator="cpu"), amd) is None          # fp32: nothing to say
    assert bf16_cpu_warning(RunOptions(accelerator="gpu", precision="bf16-mixed"), amd) is None
    assert bf16_cpu_warning(cpu, None) is None                                 # flags unknown: no guess
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx2 avx512_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2\n")
    assert cpu_flags(str(info)) == {"fpu", "avx2", "avx512_bf16"} and cpu_flags(str(tmp_path / "none")) is None
    md = to_markdown({"machine": "m", "command": "python -m benchmark perf", "loops": [],
                      "cpu_features": {"flags": ["avx", "avx2", "fma"], "native_bf16": False}})
    assert "CPU features seen (/proc/cpuinfo): avx, avx2, fma; no native bf16" in md
