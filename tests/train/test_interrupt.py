"""SIGTERM / SIGINT / SIGHUP during training: exit 143 / 130 / 129, the run recorded ``interrupted`` with the
iteration reached, a checkpoint kept, and a re-run resumes from it (a subprocess is signalled once it has
started training)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}


def start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for(predicate, proc, timeout=240):
    t0 = time.time()
    while not predicate():
        assert proc.poll() is None, proc.communicate()
        assert time.time() - t0 < timeout, "training did not start"
        time.sleep(0.2)


RUN = ["run", "--variant", "nsgan", "--iterations", "1000000", "--num-samples", "256", "--batch-size", "32",
       "--metrics", "modes_covered", "--save-samples", "0", "--checkpoint-every", "20", "--name", "sig"]


def interrupt_once(tmp_path, sig, min_ckpts):
    results = tmp_path / "results"
    ckdir = results / "checkpoints" / "sig"
    proc = start([*RUN, "--results-dir", str(results)], tmp_path)
    seen = set(p.name for p in ckdir.glob("*.ckpt")) if ckdir.exists() else set()
    wait_for(lambda: ckdir.exists() and len(set(p.name for p in ckdir.glob("*.ckpt")) - seen) >= min_ckpts, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    (path,) = [p for p in (results / "runs").glob("*.json")]
    return proc.returncode, out, err, json.loads(path.read_text())


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130), (signal.SIGHUP, 129)],
                         ids=["SIGTERM", "SIGINT", "SIGHUP"])      # SIGHUP: the terminal or SSH session closed
def test_signal_stops_checkpoints_records_interrupted_and_rerun_resumes(sig, code, tmp_path):
    rc, out, err, rec = interrupt_once(tmp_path, sig, 1)
    assert rc == code, out + err
    assert rec["status"] == "interrupted" and rec["signal"] == sig.name and rec["steps"] > 0, rec
    assert rec["checkpoint"].endswith(".ckpt") and (tmp_path / "results" / rec["checkpoint"]).exists()
    lines = [line for line in out.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and f"at iteration {rec['steps']}" in lines[0] and "resume" in lines[0], out
    first = rec["steps"]
    rc2, out2, err2, rec2 = interrupt_once(tmp_path, sig, 1)   # the same command again: resumes
    assert rc2 == code, out2 + err2
    assert rec2["resumed_at"] == first and rec2["steps"] > first, rec2


@pytest.mark.parametrize("jobs", [1, 2], ids=["sequential", "2 workers"])
def test_sigterm_stops_a_sweep_and_says_how_many_runs_remain(jobs, tmp_path):
    sweep = tmp_path / "s.yaml"
    sweep.write_text("name: sig\nseeds: [0, 1]\nvariants: [nsgan]\ndatasets: [ring8]\niterations: 1000000\n"
                     "options: {num_samples: 256, batch_size: 32, metrics: modes_covered, save_samples: 0, "
                     "checkpoint_every: 20}\n")
    results = tmp_path / "results"
    proc = start(["sweep", str(sweep), "--jobs", str(jobs), "--results-dir", str(results)], tmp_path)
    wait_for(lambda: any((results / "checkpoints").glob("*/*.ckpt")) if (results / "checkpoints").exists()
             else False, proc)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, out + err
    assert "sweep interrupted by SIGTERM: 2 of 2 runs remain" in out, out
    paths = list((results / "runs").glob("*.json"))
    assert 1 <= len(paths) <= jobs and all(json.loads(p.read_text())["status"] == "interrupted" for p in paths)
