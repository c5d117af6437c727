"""The stages of a run: a SIGTERM while scoring records the run ``interrupted`` (not failed) when the trained model
is checkpointed, and the same command then scores it without training; without checkpoints the scores are
finished instead of thrown away. An interrupted attempt beside a finished record is kept as
``<id>.interrupted-<stamp>.json``; a DDP rank other than 0 does not print the interrupted line."""
import json
import os
import signal
import time
from argparse import Namespace
from pathlib import Path

import pytest

from benchmark import score
from benchmark.io import atomic_write_json, load_runs, run_id
from benchmark.train import run as R
from benchmark.train.interrupt import STATE
from benchmark.train.options import resolve

TINY = {"iterations": 20, "num_samples": 256, "batch_size": 32, "metrics": "modes_covered", "save_samples": 0,
        "wandb": "disabled", "hidden": 8}


@pytest.fixture(autouse=True)
def _clear_signal_state():
    STATE.signum = 0
    yield
    STATE.signum = 0


def sigterm_while_scoring(monkeypatch):
    """score.evaluate receives SIGTERM and then keeps working (like a long FID) unless interrupted."""
    real = score.evaluate
    calls = []

    def slow(*args, **kwargs):
        calls.append(1)
        os.kill(os.getpid(), signal.SIGTERM)
        t0 = time.time()
        while time.time() - t0 < 0.5:               # the raising handler stops this loop at once
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(R.score, "evaluate", slow)
    return calls


def test_sigterm_while_scoring_a_checkpointed_run_is_interrupted_and_rerun_scores_without_training(
        tmp_path, monkeypatch):
    opts = {**TINY, "checkpoint_every": 10, "results_dir": str(tmp_path)}
    calls = sigterm_while_scoring(monkeypatch)
    rec = R.execute(opts)
    assert calls and rec["status"] == "interrupted" and rec["interrupted_during"] == "evaluation", rec
    assert rec["signal"] == "SIGTERM" and rec["steps"] == 20 and rec["metrics"] == {}
    assert rec["checkpoint"].endswith("iter-00000020.ckpt") and (tmp_path / rec["checkpoint"]).exists()
    assert json.loads(Path(rec["written_to"]).read_text())["status"] == "interrupted"
    monkeypatch.undo()
    STATE.signum = 0
    again = R.execute(opts)                          # the same command: scores the final checkpoint
    assert again["status"] == "completed" and again["resumed_at"] == 20 and again["steps"] == 20
    assert again["metrics"]["modes_covered"] is not None


def test_sigterm_while_scoring_without_checkpoints_finishes_the_scores(tmp_path, monkeypatch):
    sigterm_while_scoring(monkeypatch)
    rec = R.execute({**TINY, "results_dir": str(tmp_path)})
    assert rec["status"] == "completed" and rec["metrics"]["modes_covered"] is not None, rec
    assert STATE.signum == signal.SIGTERM             # kept for the caller's exit status


def test_an_interrupted_attempt_beside_a_completed_record_has_its_own_name(tmp_path, capsys):
    opts = {**TINY, "results_dir": str(tmp_path)}
    rid = run_id(resolve(opts).config())
    path = tmp_path / "runs" / f"{rid}.json"
    atomic_write_json(path, {"run_id": rid, "variant": "nsgan", "dataset": "ring8", "seed": 0,
                             "status": "completed", "metrics": {"modes_covered": 8}})
    written = R.write_record(tmp_path, rid, {"run_id": rid, "variant": "nsgan", "status": "interrupted"})
    assert ".interrupted-" in written and ".failed-" not in written
    assert json.loads(path.read_text())["status"] == "completed"
    assert [r["status"] for r in load_runs(tmp_path)] == ["completed"]       # the attempt is not a result
    assert "this interrupted attempt is in" in capsys.readouterr().out


def test_ddp_rank_other_than_0_does_not_print_the_interrupted_line(tmp_path, monkeypatch, capsys):
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    from benchmark import cli

    record = {"run_id": "x", "status": "interrupted", "signal": "SIGTERM", "steps": 7, "checkpoint": "c.ckpt"}
    monkeypatch.setattr(R, "execute", lambda resolved: record)
    STATE.signum = signal.SIGTERM
    args = Namespace(config=None, variant="nsgan", data=None, seed=None, iterations=None, progress=None,
                     results_dir=str(tmp_path), print_config=False)
    monkeypatch.setattr(rank_zero_only, "rank", 1, raising=False)
    assert cli.cmd_run(args, []) == 143
    assert "interrupted" not in capsys.readouterr().out
    monkeypatch.setattr(rank_zero_only, "rank", 0, raising=False)
    assert cli.cmd_run(args, []) == 143
    assert capsys.readouterr().out.count("interrupted by SIGTERM at iteration 7") == 1
