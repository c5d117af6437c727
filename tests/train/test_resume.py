"""Kill-and-resume: a run SIGKILLed mid-training and re-run with the same command ends bit-identical to an
uninterrupted run (CPU, deterministic); corrupt checkpoints fall back; changed hyper-parameters are refused."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from benchmark.train.checkpoint import list_checkpoints, load_checkpoint
from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[2]
# wgan_gp: 5 D steps per G step, a gradient penalty (double backward), Adam; 8 batches per epoch, so the run
# crosses many epochs and the kill lands mid-epoch
ARGS = ["run", "--variant", "wgan_gp", "--data", "ring8", "--seed", "3", "--iterations", "60",
        "--num-samples", "512", "--batch-size", "64", "--hidden", "32", "--checkpoint-every", "10",
        "--deterministic", "true", "--metrics", "modes_covered,high_quality", "--save-samples", "64",
        "--wandb", "disabled", "--threads", "1"]


def cli(results, *extra):
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    return [sys.executable, "-m", "benchmark", *ARGS, "--results-dir", str(results), *extra], env


def run(results, *extra, check=True):
    cmd, env = cli(results, *extra)
    out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    if check:
        assert out.returncode == 0, out.stdout + out.stderr
    return out


def only_record(results):
    files = list((results / "runs").glob("*.json"))
    assert len(files) == 1, files
    return json.loads(files[0].read_text())


def final_state(results):
    ckpt_dir, = (results / "checkpoints").iterdir()
    ckpts = list_checkpoints(ckpt_dir)
    assert ckpts and ckpts[0].name == "iter-00000060.ckpt", ckpts
    return load_checkpoint(ckpts[0])


def test_killed_run_resumes_bit_exact(tmp_path, capsys):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    assert main([*ARGS, "--results-dir", str(ref)]) == 0         # uninterrupted reference, in this process

    cmd, env = cli(killed)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None:
        d = killed / "checkpoints"
        if d.is_dir() and any(list_checkpoints(p) for p in d.iterdir()):
            break
        time.sleep(0.02)
    assert proc.poll() is None, "the run ended before its first checkpoint: make it longer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    killed_at = [int(p.stem.split("-")[1]) for p in list_checkpoints(next((killed / "checkpoints").iterdir()))]
    assert max(killed_at) < 60 and not list((killed / "runs").glob("*.json"))      # a stale lock only

    out = run(killed)                                   # the same command again
    rec_ref, rec_res = only_record(ref), only_record(killed)
    assert rec_res["resumed_at"] == max(killed_at) and 0 < rec_res["resumed_at"] < 60

    a, b = final_state(ref), final_state(killed)
    assert set(a["state_dict"]) == set(b["state_dict"])
    diffs = {k: (a["state_dict"][k].double() - b["state_dict"][k].double()).abs().max().item()
             for k in a["state_dict"]}
    print(f"\nresumed at iteration {rec_res['resumed_at']}: compared {len(diffs)} tensors of G and D, "
          f"max |diff| = {max(diffs.values())}")
    assert any(k.startswith("generator.") for k in diffs) and any(k.startswith("discriminators.") for k in diffs)
    assert max(diffs.values()) == 0.0, {k: v for k, v in diffs.items() if v}
    for opt_a, opt_b in zip(a["optimizer_states"], b["optimizer_states"]):   # Adam moments and step counts
        for sa, sb in zip(opt_a["state"].values(), opt_b["state"].values()):
            for key in sa:
                assert torch.equal(torch.as_tensor(sa[key]), torch.as_tensor(sb[key])), key
    assert rec_ref["metrics"] == rec_res["metrics"] and rec_ref["history"] == rec_res["history"]
    assert rec_ref["steps"] == rec_res["steps"] == 60
    import numpy as np
    assert np.array_equal(np.load(ref / rec_ref["samples"]), np.load(killed / rec_res["samples"]))


def test_corrupt_checkpoint_falls_back_and_changed_hparams_are_refused(tmp_path, capsys):
    res = tmp_path / "r"
    args = [*ARGS, "--results-dir", str(res), "--iterations", "20", "--name", "exp1"]
    assert main(args) == 0
    ckpts = list_checkpoints(res / "checkpoints" / "exp1")
    assert [p.name for p in ckpts] == ["iter-00000020.ckpt", "iter-00000010.ckpt"]
    ckpts[0].write_bytes(ckpts[0].read_bytes()[:1000])          # truncated newest checkpoint
    (res / "runs").rename(tmp_path / "runs_before")
    capsys.readouterr()
    assert main(args) == 0
    err = capsys.readouterr().err
    assert "iter-00000020.ckpt is corrupt or truncated" in err and "falling back" in err
    rec = only_record(res)
    assert rec["status"] == "completed" and rec["resumed_at"] == 10 and rec["steps"] == 20

    before = sorted(str(p) for p in res.rglob("*"))
    assert main([*args, "--lr-g", "0.001", "--hidden", "16"]) == 2
    err = capsys.readouterr().err
    line, = err.strip().splitlines()
    assert line.startswith("error: checkpoint ") and "hidden: 32 -> 16" in line and "lr_g: 0.0001 -> 0.001" in line
    assert sorted(str(p) for p in res.rglob("*")) == before     # wrote nothing


def test_nan_loss_stops_the_run_as_diverged_and_the_sweep_goes_on(tmp_path, monkeypatch):
    """A loss that turns NaN at iteration 7 ends the run early with status diverged at 7; its samples and
    training log are kept, and the next run of the sweep still completes."""
    from benchmark.train.sweep import run_sweep
    from models.variants.lsgan import LSGAN

    real_d_loss = LSGAN.d_loss

    def poisoned(self, real, fake):
        loss = real_d_loss(self, real, fake)
        return loss * float("nan") if self.iteration >= 7 else loss

    monkeypatch.setattr(LSGAN, "d_loss", poisoned)
    spec = {"name": "nan", "iterations": 40, "seeds": [0], "variants": ["lsgan", "nsgan"], "datasets": ["ring8"],
            "options": {"num_samples": 256, "batch_size": 32, "log_every": 5, "save_samples": 32,
                        "metrics": "modes_covered", "wandb": "disabled", "checkpoint_every": 10}}
    records = {r["variant"]: r for r in run_sweep(spec, results_dir=str(tmp_path))}
    bad, good = records["lsgan"], records["nsgan"]
    assert bad["status"] == "diverged" and bad["diverged_at"] == 7, bad.get("error")
    assert bad["steps"] < 40 and bad["history"] and (tmp_path / bad["samples"]).exists()
    assert (tmp_path / bad["sample_plot"]).exists() and bad["metrics"] == {}
    assert good["status"] == "completed" and good["steps"] == 40
    saved = json.loads((tmp_path / "runs" / f"{bad['run_id']}.json").read_text())
    assert saved["status"] == "diverged" and saved["diverged_at"] == 7


EPOCH_ARGS = ["run", "--variant", "nsgan", "--data", "ring8", "--seed", "0", "--iterations", "300",
              "--num-samples", "256", "--batch-size", "32", "--hidden", "16", "--checkpoint-every", "20",
              "--deterministic", "true", "--metrics", "modes_covered,high_quality", "--save-samples", "0",
              "--wandb", "disabled", "--threads", "1", "--progress", "off"]


def test_second_resume_after_resuming_from_an_epoch_end_is_exact(tmp_path, monkeypatch):
    """Lightning restores the loader's position only when its epoch counters say "mid-epoch". A run resumed from
    a checkpoint taken at an epoch's last batch wrote later checkpoints whose counters read "epoch finished", so
    resuming from one of those restarted the data stream (seen in the fault-injection sweep: high_quality 0.52
    vs 0.56). Stop at an epoch's last batch, resume and stop again two batches later, resume to the end: the
    weights equal an uninterrupted run's."""
    from benchmark.train import interrupt

    ref, resumed = tmp_path / "ref", tmp_path / "resumed"
    assert main([*EPOCH_ARGS, "--results-dir", str(ref)]) == 0
    original = interrupt.StopOnSignal.on_train_batch_end
    stops = []

    def stop_when(trigger):
        def hook(self, trainer, pl_module, *rest):
            if not interrupt.STATE.signum and trigger(trainer):
                interrupt.STATE.signum = signal.SIGTERM
            return original(self, trainer, pl_module, *rest)
        monkeypatch.setattr(interrupt.StopOnSignal, "on_train_batch_end", hook)

    def run_until(trigger):
        stop_when(trigger)
        try:
            assert main([*EPOCH_ARGS, "--results-dir", str(resumed)]) == 143
        finally:
            interrupt.STATE.signum = 0
        stops.append(only_record(resumed)["steps"])

    run_until(lambda t: t.fit_loop.epoch_loop.batch_progress.is_last_batch)      # an epoch's last batch
    seen = []
    run_until(lambda t: seen.append(1) or len(seen) == 2)                        # two batches after resuming
    monkeypatch.setattr(interrupt.StopOnSignal, "on_train_batch_end", original)
    assert main([*EPOCH_ARGS, "--results-dir", str(resumed)]) == 0
    assert 0 < stops[0] < stops[1] < 300 and only_record(resumed)["resumed_at"] == stops[1], stops

    def last(results):
        ckpt_dir, = (results / "checkpoints").iterdir()
        return load_checkpoint(list_checkpoints(ckpt_dir)[0])
    a, b = last(ref)["state_dict"], last(resumed)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert only_record(resumed)["metrics"] == only_record(ref)["metrics"]
