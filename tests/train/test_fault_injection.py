"""Fault injection: a sweep killed with SIGKILL and SIGTERM at seeded random points, and re-run each time, keeps
every completed run byte-identical, resumes every interrupted run from its checkpoint, and ends with the same
table (and the same metrics per run) as a sweep that was never interrupted."""
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmark.io import load_runs
from benchmark.report.aggregate import aggregate
from benchmark.train.checkpoint import list_checkpoints

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
SWEEP = """name: fault
seeds: [0, 1]
variants: [minimax, nsgan]
datasets: [ring8]
iterations: 600
options: {num_samples: 256, batch_size: 32, hidden: 16, metrics: "modes_covered,high_quality,reverse_kl",
          save_samples: 0, checkpoint_every: 20, deterministic: true, threads: 1}
"""
KILLS = 3                          # kill rounds before the final, uninterrupted re-run (SIGKILL and SIGTERM)


def records(results: Path) -> dict[str, tuple[dict, bytes]]:
    out = {}
    for p in (results / "runs").glob("*.json"):
        data = p.read_bytes()
        out[p.stem] = (json.loads(data), data)
    return out


def newest_checkpoints(results: Path) -> dict[str, int]:
    """run id -> iteration of its newest checkpoint (the checkpoint directories are named by run id)."""
    out = {}
    for d in (results / "checkpoints").glob("*"):
        ckpts = list_checkpoints(d)
        if ckpts:
            out[d.name] = int(ckpts[0].stem.split("-")[1])
    return out


def training_began(results: Path, since: float) -> bool:
    ck = results / "checkpoints"
    return ck.exists() and any(p.stat().st_mtime > since for p in ck.glob("*/*.ckpt"))


def sweep_cmd(path: Path, results: Path) -> list[str]:
    return [sys.executable, "-m", "benchmark", "sweep", str(path), "--jobs", "1", "--results-dir", str(results)]


@pytest.mark.slow
def test_sweep_killed_at_random_points_loses_nothing_and_ends_like_an_uninterrupted_one(tmp_path):
    from benchmark.train.sweep import load_sweep, run_sweep

    sweep = tmp_path / "fault.yaml"
    sweep.write_text(SWEEP)
    results = tmp_path / "killed"
    rng = random.Random(15)
    kept: dict[str, bytes] = {}                       # completed records: must never change
    resume_from: dict[str, int] = {}                  # unfinished run -> iteration it must resume from (at least)
    log = []
    resumed: set[str] = set()                         # runs seen to resume from a checkpoint
    signals = [signal.SIGKILL, signal.SIGTERM] + [rng.choice([signal.SIGKILL, signal.SIGTERM])
                                                   for _ in range(KILLS - 2)]
    rng.shuffle(signals)
    before = records(results) if results.exists() else {}
    for k, sig in enumerate(signals):
        delay = rng.uniform(0.2, 2.0)
        t0 = time.time()
        proc = subprocess.Popen(sweep_cmd(sweep, results), cwd=ROOT, env=ENV, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        while not training_began(results, t0) and proc.poll() is None:
            assert time.time() - t0 < 120, "the sweep did not start training"
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=120)
        log.append(f"round {k}: {sig.name} {delay:.2f} s after training began -> exit {proc.returncode}")
        if proc.returncode == 0:                      # the sweep finished before the signal landed
            pass
        elif sig == signal.SIGTERM:
            assert proc.returncode == 143, out
            assert "sweep interrupted by SIGTERM" in out, out
        else:
            assert proc.returncode == -signal.SIGKILL, out
        now = records(results)
        for rid, data in kept.items():                # byte-identical after every later kill
            assert now[rid][1] == data, (rid, log)
        checkpoints = newest_checkpoints(results)
        states = {r: (v[0]["status"], v[0].get("steps"), v[0].get("resumed_at")) for r, v in now.items()}
        log.append(f"  records (status, steps, resumed_at) {states}; newest checkpoints {checkpoints}")
        for rid, (rec, data) in now.items():
            if rec["status"] == "completed":
                if rid not in kept and resume_from.get(rid):     # finished in this round: resumed, not restarted
                    assert rec.get("resumed_at", 0) >= resume_from[rid], (rid, resume_from[rid], rec, log)
                    resumed.add(rid)
                kept.setdefault(rid, data)
                resume_from.pop(rid, None)
            elif rec["status"] == "interrupted":      # SIGTERM: recorded with its iteration and checkpoint
                assert rec["signal"] == "SIGTERM" and rec["checkpoint"].endswith(".ckpt"), rec
                if before.get(rid, (None, None))[1] != data:     # written this round: its checkpoint is there (a
                    assert (results / rec["checkpoint"]).exists()  # later round's resume may rotate it out)
                resume_from[rid] = max(resume_from.get(rid, 0), rec["steps"])
            else:
                pytest.fail(f"{rid} is {rec['status']}: {rec.get('error')} ({log})")
        for rid, it in checkpoints.items():           # SIGKILL: no record, but its checkpoints
            if rid not in kept:
                resume_from[rid] = max(resume_from.get(rid, 0), it)
        before = now
    final = subprocess.run(sweep_cmd(sweep, results), cwd=ROOT, env=ENV, capture_output=True, text=True,
                           timeout=300, check=False)
    assert final.returncode == 0, final.stdout + final.stderr
    now = records(results)
    assert len(now) == 4 and all(rec["status"] == "completed" for rec, _ in now.values()), log
    for rid, data in kept.items():
        assert now[rid][1] == data, (rid, log)
    for rid, it in resume_from.items():               # every unfinished run resumed, none started over
        if it:
            assert now[rid][0].get("resumed_at", 0) >= it, (rid, it, now[rid][0].get("resumed_at"), log)
            resumed.add(rid)
    assert not list((results / "runs").glob("*.lock"))      # stale locks of killed sweeps taken over, released
    assert resumed, f"no kill left a run to resume: {log}"

    reference = tmp_path / "reference"               # the same sweep, never interrupted (in-process)
    import io

    run_sweep(load_sweep(sweep), results_dir=str(reference), stream=io.StringIO())
    ref = records(reference)
    assert set(ref) == set(now)
    for rid in ref:                                  # the same run ids, steps and metrics, run by run
        assert now[rid][0]["metrics"] == ref[rid][0]["metrics"], (rid, log)
        assert now[rid][0]["steps"] == ref[rid][0]["steps"] == 600
    # the report's table (no timing columns in these rows) is the same
    assert aggregate(load_runs(results)) == aggregate(load_runs(reference))
    print("\n".join(log), file=sys.__stdout__)
