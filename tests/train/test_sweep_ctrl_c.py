"""Ctrl-C on a ``--jobs 2`` sweep (issue 27): the terminal's SIGINT reaches the whole process group, the parent and
its workers while they are still importing torch. It must stop the sweep promptly and quietly: no traceback, no
worker respawned to train the remaining runs, exit 130; and piped into ``tee`` (which the same Ctrl-C stops, so the
parent's output pipe breaks) the parent must not hang joining its workers.

The sweep runs in its own session and gets the signal with ``killpg``, as a terminal would send it. The waits are
bounded only to guard a hang; nothing is timed.
"""
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.train.test_sweep_safety import alive, children

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
       "PYTHONPATH": str(ROOT)}
HANG_GUARD_S = 300


def sweep_file(tmp_path: Path) -> Path:
    # short runs: a sweep that ignored the Ctrl-C (respawned workers) would complete all three
    path = tmp_path / "s.yaml"
    path.write_text("name: ctrlc\nseeds: [0, 1, 2]\nvariants: [nsgan]\ndatasets: [ring8]\niterations: 60\n"
                    "options: {num_samples: 256, batch_size: 32, hidden: 16, metrics: modes_covered, "
                    "save_samples: 0, checkpoint_every: 20}\n")
    return path


def benchmark_processes(pid: int) -> list[int]:
    out = []
    for k in children(pid):
        try:
            if b"benchmark" in Path(f"/proc/{k}/cmdline").read_bytes():
                out.append(k)
        except OSError:
            pass
    return out


def wait_until(predicate, what: str):
    t0 = time.time()
    while not predicate():
        assert time.time() - t0 < HANG_GUARD_S, f"hang guard: {what}"
        time.sleep(0.1)


@pytest.mark.parametrize("piped", [False, True], ids=["terminal", "| tee log"])
def test_ctrl_c_while_workers_start_stops_the_sweep_cleanly(piped, tmp_path):
    sweep, results = sweep_file(tmp_path), tmp_path / "results"
    cmd = [sys.executable, "-m", "benchmark", "sweep", str(sweep), "--jobs", "2", "--results-dir", str(results)]
    err_path, rc_path = tmp_path / "err", tmp_path / "rc"
    if piped:       # bash runs the pipeline in its session's process group, like a terminal's foreground job
        line = (f"{shlex.join(cmd)} 2>{shlex.quote(str(err_path))} | tee {shlex.quote(str(tmp_path / 'log'))}; "
                f"echo ${{PIPESTATUS[0]}} > {shlex.quote(str(rc_path))}")
        shell = subprocess.Popen(["bash", "-c", line], cwd=ROOT, env=ENV, start_new_session=True,
                                 stdout=subprocess.DEVNULL)
        group = shell.pid
        wait_until(lambda: benchmark_processes(shell.pid), "the sweep did not start")
        parent = benchmark_processes(shell.pid)[0]
    else:
        with open(err_path, "w") as err:
            shell = subprocess.Popen(cmd, cwd=ROOT, env=ENV, start_new_session=True, stdout=subprocess.PIPE,
                                     stderr=err, text=True)
        group = parent = shell.pid
    # Ctrl-C once both workers exist, before either has trained (no checkpoint yet): they are starting up
    wait_until(lambda: len(children(parent)) >= 2 or shell.poll() is not None, "no workers started")
    assert not (results / "checkpoints").exists()
    workers = children(parent)
    os.killpg(group, signal.SIGINT)
    try:
        out, _ = shell.communicate(timeout=HANG_GUARD_S)
    except subprocess.TimeoutExpired:
        os.killpg(group, signal.SIGKILL)
        pytest.fail(f"hang guard: the sweep did not exit {HANG_GUARD_S} s after Ctrl-C")
    err = err_path.read_text()
    rc = int(rc_path.read_text()) if piped else shell.returncode
    assert rc == 130, (rc, out, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    records = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")] if (results / "runs").exists() \
        else []
    assert not [r for r in records if r["status"] == "completed"], records   # nothing trained on after Ctrl-C
    assert not alive(parent) and not [k for k in workers if alive(k)]
    if not piped:
        assert "sweep interrupted by SIGINT: 3 of 3 runs remain" in out, out
