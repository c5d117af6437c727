"""A population's checkpoints, signals, in-training scores and W&B runs, from outside (``benchmark sweep
--population``): a population SIGKILLed mid-run and re-run ends with every member's record equal to an
uninterrupted population's; SIGTERM/SIGINT/SIGHUP checkpoint, record every member ``interrupted`` and exit
128 + signum, and the re-run resumes; each member's ``eval/<metric>`` history is its single run's; each member
is one W&B run of the sweep's group."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.train.checkpoint import list_checkpoints, load_checkpoint

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}

# wgan_gp: 5 D steps per G step and a gradient penalty; log_every 4 and checkpoint_every 10, so a checkpoint holds
# scalars tracked since the last flush; eval_every 10 puts in-training scores into the histories
SPEC = """name: popres
seeds: [0, 1]
variants: [wgan_gp]
datasets: [ring8]
iterations: {iterations}
population: 2
options: {{num_samples: 512, batch_size: 64, hidden: 32, log_every: 4, checkpoint_every: 10, eval_every: 10,
           eval_samples: 200, deterministic: true, metrics: "modes_covered,high_quality,mmd", save_samples: 64,
           wandb: disabled, threads: 1}}
"""


def spec_file(tmp_path: Path, iterations: int) -> Path:
    path = tmp_path / f"pop{iterations}.yaml"
    path.write_text(SPEC.format(iterations=iterations))
    return path


def records(results: Path) -> dict[int, dict]:
    out = {}
    for p in (results / "runs").glob("*.json"):
        rec = json.loads(p.read_text())
        out[rec["seed"]] = rec
    return out


def start(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def checkpoints(results: Path) -> list[Path]:
    d = results / "checkpoints"
    return [c for p in d.iterdir() for c in list_checkpoints(p)] if d.is_dir() else []


def wait_for_checkpoint(results: Path, proc: subprocess.Popen, seen: set[str] = frozenset()) -> None:
    deadline = time.time() + 900                      # guards a hang only (a shared, niced CPU is slow)
    while not [c for c in checkpoints(results) if c.name not in seen]:
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "no checkpoint written"
        time.sleep(0.02)


def test_killed_population_resumes_and_every_member_equals_the_uninterrupted_one(tmp_path):
    spec = spec_file(tmp_path, 60)
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert main(["sweep", str(spec), "--results-dir", str(ref), "--progress", "off"]) == 0

    proc = start(["sweep", str(spec), "--results-dir", str(killed), "--progress", "off"])
    wait_for_checkpoint(killed, proc)
    assert proc.poll() is None, "the population ended before its first checkpoint: make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    killed_at = max(int(c.stem.split("-")[1]) for c in checkpoints(killed))
    assert killed_at < 60 and not list((killed / "runs").glob("*.json"))

    assert main(["sweep", str(spec), "--results-dir", str(killed), "--progress", "off"]) == 0   # the same command
    a, b = records(ref), records(killed)
    assert sorted(a) == sorted(b) == [0, 1]
    for seed in (0, 1):
        ra, rb = a[seed], b[seed]
        assert ra["status"] == rb["status"] == "completed" and ra["steps"] == rb["steps"] == 60
        assert rb["resumed_at"] == killed_at and "resumed_at" not in ra
        assert rb["engine"] == ra["engine"] and ra["engine"]["size"] == 2
        assert ra["history"] == rb["history"]                    # losses and eval/<metric>, row by row
        assert sum("eval/mmd" in row for row in ra["history"]) == 6
        assert ra["metrics"] == rb["metrics"] and ra["metrics"]
        assert np.array_equal(np.load(ref / ra["samples"]), np.load(killed / rb["samples"]))
    # the stacked weights and the stacked Adam states at the end are bit-identical
    (ca,), (cb,) = [[c for c in checkpoints(r) if c.name == "iter-00000060.ckpt"] for r in (ref, killed)]
    sa, sb = load_checkpoint(ca), load_checkpoint(cb)
    assert sa["state_dict"].keys() == sb["state_dict"].keys()
    assert all(torch.equal(sa["state_dict"][k], sb["state_dict"][k]) for k in sa["state_dict"])
    for opt_a, opt_b in zip(sa["optimizer_states"], sb["optimizer_states"]):
        for st_a, st_b in zip(opt_a["state"].values(), opt_b["state"].values()):
            for key in st_a:
                assert torch.equal(torch.as_tensor(st_a[key]), torch.as_tensor(st_b[key])), key
    assert sa["ganbench"]["generators"]["cpu"][1].equal(sb["ganbench"]["generators"]["cpu"][1])


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_signal_checkpoints_records_every_member_interrupted_and_the_rerun_resumes(sig, code, tmp_path):
    spec = spec_file(tmp_path, 1_000_000)
    results = tmp_path / "results"

    def interrupt_once() -> tuple[dict[int, dict], str]:
        seen = {c.name for c in checkpoints(results)}
        proc = start(["sweep", str(spec), "--results-dir", str(results), "--progress", "off"])
        wait_for_checkpoint(results, proc, seen)
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == code, out + err
        assert f"sweep interrupted by {sig.name}: 2 of 2 runs remain" in out, out
        return records(results), out

    first, _ = interrupt_once()
    assert sorted(first) == [0, 1]
    steps = first[0]["steps"]
    for rec in first.values():
        assert rec["status"] == "interrupted" and rec["signal"] == sig.name and rec["steps"] == steps > 0
        assert rec["interrupted_during"] == "training" and rec["metrics"] == {}
        assert (results / rec["checkpoint"]).exists() and f"iter-{steps:08d}" in rec["checkpoint"]
    again, _ = interrupt_once()                     # the same command: resumes from that checkpoint
    for rec in again.values():
        assert rec["status"] == "interrupted" and rec["resumed_at"] == steps and rec["steps"] > steps
