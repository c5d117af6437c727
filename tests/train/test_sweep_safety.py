"""A sweep refuses what it would silently get wrong (misspelled per-variant/per-dataset keys, a value listed twice),
two sweeps on one results directory split the work through per-run locks, and a ``--jobs`` parent that is killed
(SIGTERM or SIGKILL) leaves no worker training on."""
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from benchmark.io import RunLock
from benchmark.train import sweep as S
from models import ConfigError

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "WANDB_MODE": "disabled", "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
TINY = {"iterations": 4, "hidden": 8, "log_every": 2, "batch_size": 32, "save_samples": 0, "num_samples": 256,
        "metrics": "modes_covered"}


def spec(**kw):
    base = {"name": "t", "seeds": [0, 1], "variants": ["minimax", "nsgan"], "datasets": ["ring8"],
            "options": dict(TINY)}
    base.update(kw)
    return base


@pytest.mark.parametrize("bad, fragments", [
    ({"variant_options": {"wgan_gpp": {"n_critic": 5}}}, ["variant_options: unknown variant 'wgan_gpp'",
                                                          "choose one of:", "wgan_gp"]),
    ({"dataset_options": {"ring9": {"hidden": 16}}}, ["dataset_options: unknown dataset 'ring9'", "ring8"]),
    ({"variant_options": {"nsgan": {"n_critc": 5}}}, ["variant_options.nsgan: option 'n_critc' is accepted by no",
                                                      "valid options:", "n_critic"]),
    # a variant this sweep does not train: its keys are still checked (resolve never sees them)
    ({"variant_options": {"wgan": {"clip_vlaue": 0.1}}}, ["variant_options.wgan: option 'clip_vlaue'"]),
    ({"dataset_options": {"digits": {"batch_sise": 100}}}, ["dataset_options.digits: option 'batch_sise'",
                                                             "batch_size"]),
    ({"variant_options": {"nsgan": [1, 2]}}, ["variant_options.nsgan must be a mapping"]),
    ({"seeds": [0, 1, 1]}, ["'seeds' lists 1 twice", "list each value once"]),
    ({"variants": ["nsgan", "minimax", "nsgan"]}, ["'variants' lists 'nsgan' twice"]),
    ({"datasets": ["ring8", "ring8"]}, ["'datasets' lists 'ring8' twice"]),
    ({"grid": {"lr_g": [1e-4, 1e-4]}}, ["'grid.lr_g' lists 0.0001 twice"]),
    ({"quick": {"seeds": [3, 3]}}, ["'quick.seeds' lists 3 twice"]),
    ({"grid": {"lr_g": [1e-4, "0.0001"]}}, ["are the same run", "list each value once"]),
], ids=lambda x: str(x)[:40] if isinstance(x, dict) else None)
def test_sweep_specs_that_would_be_silently_wrong_are_refused(bad, fragments):
    with pytest.raises(ConfigError) as e:
        S.plan(spec(**bad))
    for f in fragments:
        assert f in str(e.value), (f, str(e.value))


def test_well_formed_per_name_options_still_pass():
    planned = S.plan(spec(variant_options={"minimax": {"pi": 0.3}, "wgan": {"n_critic": 2}},
                          dataset_options={"ring8": {"hidden": 16}, "digits": {"iterations": 3}}))
    assert len(planned) == 4 and len({p.run_id for p in planned}) == 4


def test_a_run_locked_by_another_process_is_left_to_it_and_a_stale_lock_is_taken_over(tmp_path):
    s = spec(seeds=[0], variants=["minimax", "nsgan"])
    planned = S.plan(s, results_dir=str(tmp_path))
    held = RunLock(tmp_path / "runs", planned[0].run_id)
    assert held.acquire()                      # "another sweep" (this process holds it via its own fd)
    out = io.StringIO()
    recs = S.run_sweep(s, results_dir=str(tmp_path), stream=out)
    assert [r["variant"] for r in recs] == ["nsgan"] and recs[0]["status"] == "completed"
    assert f"running in another process (pid {os.getpid()}) (skipped)" in out.getvalue()
    assert "1 run(s) left to other processes" in out.getvalue()
    assert not planned[0].path.exists()
    held.release()
    assert not held.path.exists()
    # a lock file left by a process that died (flock released by the kernel, its pid still in the file)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    held.path.write_text(f"{dead.pid} somehost\n")
    recs = S.run_sweep(s, results_dir=str(tmp_path), stream=io.StringIO())
    assert [r["variant"] for r in recs] == ["minimax"] and recs[0]["status"] == "completed"
    assert not list((tmp_path / "runs").glob("*.lock"))           # released and removed after the run


def test_lock_is_exclusive_across_processes_and_released_when_its_holder_is_killed(tmp_path):
    code = ("import sys, time; from benchmark.io import RunLock; l = RunLock(sys.argv[1], 'r'); "
            "print(l.acquire(), flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], cwd=ROOT, env=ENV,
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "True"
    mine = RunLock(tmp_path, "r")
    assert not mine.acquire() and mine.holder() == str(holder.pid)
    holder.kill()
    holder.wait()
    assert mine.acquire()                       # SIGKILL released it: taken over
    mine.release()


def start(args, log=None):
    """``python -m benchmark ARGS``; with ``log`` (a path) its output goes there, not to pipes a worker that
    outlives it would hold open."""
    if log is None:
        return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    with open(log, "w") as out:                     # the child keeps its own copy of the descriptor
        return subprocess.Popen([sys.executable, "-m", "benchmark", *args], cwd=ROOT, env=ENV,
                                stdout=out, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, procs, timeout=240):
    t0 = time.time()
    while not predicate():
        for p in procs:
            assert p.poll() is None, p.communicate()
        assert time.time() - t0 < timeout, "timed out"
        time.sleep(0.2)


def write_sweep(tmp_path, seeds, iterations, checkpoint_every):
    path = tmp_path / "s.yaml"
    path.write_text(f"name: lock\nseeds: {seeds}\nvariants: [nsgan]\ndatasets: [ring8]\niterations: {iterations}\n"
                    f"options: {{num_samples: 256, batch_size: 32, hidden: 16, metrics: modes_covered, "
                    f"save_samples: 0, checkpoint_every: {checkpoint_every}}}\n")
    return path


def test_two_concurrent_sweeps_on_one_results_directory_train_each_run_once(tmp_path):
    # ~10 s a run on an idle 2-core CPU: the second sweep (~6 s to start) must find runs still to take
    sweep, results = write_sweep(tmp_path, [0, 1, 2], 6000, 50), tmp_path / "results"
    a = start(["sweep", str(sweep), "--jobs", "1", "--results-dir", str(results)])
    # the second sweep starts once the first is training its first run: that run is locked
    wait_for(lambda: any((results / "checkpoints").glob("*/*.ckpt")) if (results / "checkpoints").exists()
             else False, [a])
    b = start(["sweep", str(sweep), "--jobs", "1", "--results-dir", str(results)])
    out_a, err_a = a.communicate(timeout=300)
    out_b, err_b = b.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, out_a + err_a + out_b + err_b
    trained_a = [line for line in out_a.splitlines() if "completed" in line]
    trained_b = [line for line in out_b.splitlines() if "completed" in line]
    assert len(trained_a) + len(trained_b) == 3, out_a + out_b            # each run trained exactly once
    assert trained_a and trained_b, out_a + out_b                         # and the work was split
    assert "running in another process" in out_b, out_b
    recs = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert sorted(r["seed"] for r in recs) == [0, 1, 2] and all(r["status"] == "completed" for r in recs)
    assert not list((results / "runs").glob("*.lock"))


def children(pid):
    """Live (not zombie) processes whose parent is ``pid``, excluding multiprocessing's resource tracker."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and b"resource_tracker" not in cmdline:
            out.append(int(stat.parent.name))
    return out


def alive(pid):
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_a_jobs_parent_leaves_no_worker_running(sig, tmp_path):
    sweep, results = write_sweep(tmp_path, [0, 1, 2], 1000000, 20), tmp_path / "results"
    parent = start(["sweep", str(sweep), "--jobs", "2", "--results-dir", str(results)], log=tmp_path / "log")
    wait_for(lambda: len(list((results / "checkpoints").glob("*/*.ckpt"))) >= 2 if (results / "checkpoints").exists()
             else False, [parent])
    workers = children(parent.pid)
    assert len(workers) == 2, workers
    parent.send_signal(sig)
    parent.wait(timeout=120)
    t0 = time.time()
    while any(alive(w) for w in workers) and time.time() - t0 < 60:
        time.sleep(0.2)
    orphans = [w for w in workers if alive(w)]
    for w in orphans:                                  # a failing run must not leave them training
        os.kill(w, signal.SIGKILL)
    assert not orphans, f"workers {orphans} outlived their parent"
    # the workers stopped their runs the way a signal does: recorded interrupted, resumable
    recs = [json.loads(p.read_text()) for p in (results / "runs").glob("*.json")]
    assert recs and all(r["status"] == "interrupted" and r["steps"] > 0 for r in recs), recs


def test_run_and_sweep_index_respect_the_run_lock(tmp_path, capsys):
    """`benchmark run` and `sweep --index K` (a W&B agent's call) take the lock sweeps take: a second copy of
    one command is refused (exit 2, naming the holder) or skipped, instead of writing one checkpoint directory
    from two processes."""
    from benchmark.cli import main
    from benchmark.io import run_id
    from benchmark.train.options import resolve

    sweep = tmp_path / "s.yaml"
    sweep.write_text(yaml.safe_dump(spec(seeds=[0], variants=["nsgan"])))
    planned = S.plan(S.load_sweep(str(sweep)), results_dir=str(tmp_path))
    args = ["run", "--variant", "nsgan", "--data", "ring8", "--seed", "0", "--results-dir", str(tmp_path),
            "--wandb", "disabled", *[x for k, v in TINY.items() for x in (f"--{k.replace('_', '-')}", str(v))]]
    rid = run_id(resolve({"variant": "nsgan", "data": "ring8", "seed": 0, "results_dir": str(tmp_path),
                          "wandb": "disabled", **TINY}).config())
    held = RunLock(tmp_path / "runs", rid)
    assert held.acquire()
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"run {rid} is being trained by another process (pid {os.getpid()}" in err and "wait for it" in err
    assert not (tmp_path / "runs" / f"{rid}.json").exists()
    held.release()

    held = RunLock(tmp_path / "runs", planned[0].run_id)
    assert held.acquire()
    assert main(["sweep", str(sweep), "--index", "0", "--results-dir", str(tmp_path)]) == 0
    assert "running in another process" in capsys.readouterr().out and not planned[0].path.exists()
    held.release()
    assert main(["sweep", str(sweep), "--index", "0", "--results-dir", str(tmp_path)]) == 0
    assert S.is_done(planned[0].path) and not list((tmp_path / "runs").glob("*.lock"))
    assert main(args) == 0 and not list((tmp_path / "runs").glob("*.lock"))
