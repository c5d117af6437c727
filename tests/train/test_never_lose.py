"""Never lose a result: a failed attempt never replaces a finished record, run JSONs are standard
JSON (non-finite values flagged, restored on reading), and a bad run file is skipped with a warning naming it."""
import json
import math
import os
from pathlib import Path

import pytest
import pytorch_lightning as pl

from benchmark.io import atomic_write_json, load_runs, run_id
from benchmark.train import run as R
from benchmark.train.options import resolve
from benchmark.train.sweep import is_done

TINY = {"iterations": 6, "num_samples": 256, "batch_size": 32, "metrics": "modes_covered", "save_samples": 0,
        "wandb": "disabled"}


def _strict(s):
    raise ValueError(f"non-standard JSON constant {s}")


class FailAt(pl.Callback):
    def __init__(self, n):
        self.n = n

    def on_train_batch_end(self, trainer, module, *args):
        if module.iteration >= self.n:
            raise RuntimeError(f"boom at {module.iteration}")


def test_failed_attempt_never_replaces_a_completed_record(tmp_path, monkeypatch):
    opts = {**TINY, "results_dir": str(tmp_path)}
    rid = run_id(resolve(opts).config())
    path = tmp_path / "runs" / f"{rid}.json"
    atomic_write_json(path, {"run_id": rid, "variant": "nsgan", "dataset": "ring8", "seed": 0,
                             "status": "completed", "metrics": {"modes_covered": 8}})

    def broken(*a, **k):
        raise RuntimeError("trainer set-up failed")

    monkeypatch.setattr(R, "make_trainer", broken)
    rec = R.execute(opts)
    assert rec["status"] == "failed"
    assert json.loads(path.read_text())["status"] == "completed"          # kept
    attempts = list((tmp_path / "runs").glob(f"{rid}.failed-*.json"))
    assert len(attempts) == 1 and json.loads(attempts[0].read_text())["status"] == "failed"
    assert rec["written_to"] == str(attempts[0])
    runs = load_runs(tmp_path)
    assert [r["status"] for r in runs] == ["completed"]                  # the attempt does not replace it
    assert is_done(path)


def test_failure_records_the_iteration_reached(tmp_path):
    rec = R.execute({**TINY, "iterations": 50, "fuse_iterations": 1, "results_dir": str(tmp_path)},
                    callbacks=[FailAt(4)])
    assert rec["status"] == "failed" and "boom at 4" in rec["error"]
    assert rec["steps"] == 4


def test_run_json_is_standard_and_restores_nonfinite(tmp_path):
    rec = {"variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "diverged",
           "metrics": {"reverse_kl": math.inf, "w1": -math.inf},
           "history": [{"loss_d": math.nan, "loss_g": 1.0}]}
    p = atomic_write_json(tmp_path / "runs" / "a.json", rec)
    stored = json.loads(p.read_text(), parse_constant=_strict)          # strict parsers accept it
    assert stored["metrics"]["reverse_kl"] is None
    assert stored["nonfinite"] == {"metrics.reverse_kl": "inf", "metrics.w1": "-inf", "history.0.loss_d": "nan"}
    (loaded,) = load_runs(tmp_path)
    assert loaded["metrics"]["reverse_kl"] == math.inf and loaded["metrics"]["w1"] == -math.inf
    assert math.isnan(loaded["history"][0]["loss_d"]) and loaded["history"][0]["loss_g"] == 1.0
    assert "nonfinite" not in loaded


def test_old_run_json_with_bare_nan_still_loads(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "old.json").write_text('{"variant": "nsgan", "dataset": "ring8", "seed": 0, '
                                                '"metrics": {"reverse_kl": Infinity, "x": NaN}}')
    (loaded,) = load_runs(tmp_path)
    assert loaded["metrics"]["reverse_kl"] == math.inf and math.isnan(loaded["metrics"]["x"])


BAD_FILES = [
    ("not UTF-8", b"\xff\xfe\x00garbage", "not UTF-8"),
    ("a list", b"[1, 2, 3]", "JSON list"),
    ("no variant", b'{"status": "completed"}', "no 'variant'"),
    ("truncated", b'{"variant": "nsg', "not valid JSON"),
    ("a number", b"3", "JSON int"),
]


@pytest.mark.parametrize("case, data, reason", BAD_FILES, ids=[c[0] for c in BAD_FILES])
def test_bad_run_file_is_skipped_with_a_warning_naming_it(case, data, reason, tmp_path, capsys):
    runs = tmp_path / "runs"
    runs.mkdir()
    (runs / "bad.json").write_bytes(data)
    atomic_write_json(runs / "good.json", {"variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "completed"})
    loaded = load_runs(tmp_path)
    assert [r["run_id"] for r in loaded] == ["good"]
    err = capsys.readouterr().err
    assert str(runs / "bad.json") in err and reason in err, err
    assert not is_done(runs / "bad.json")


def test_final_write_failure_keeps_the_record_in_a_fallback_file(tmp_path, monkeypatch, capsys):
    real = R.atomic_write_json

    def full_disk(path, obj):
        if "runs" in Path(path).parts:
            raise OSError(28, "No space left on device")
        return real(path, obj)

    monkeypatch.setattr(R, "atomic_write_json", full_disk)
    monkeypatch.setattr(R.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    rec = R.execute({**TINY, "results_dir": str(tmp_path / "results")})
    assert rec["status"] == "completed"
    fallback = Path(rec["written_to"])
    assert fallback.parent == tmp_path / "tmp" and json.loads(fallback.read_text())["status"] == "completed"
    assert str(fallback) in capsys.readouterr().err
    assert not list((tmp_path / "results").rglob("*.tmp"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_runs_dir_is_refused_before_training(tmp_path, capsys):
    from benchmark.cli import main

    runs = tmp_path / "results" / "runs"
    runs.mkdir(parents=True)
    runs.chmod(0o500)
    try:
        code = main(["run", "--variant", "nsgan", "--iterations", "2", "--results-dir", str(tmp_path / "results")])
    finally:
        runs.chmod(0o700)
    err = capsys.readouterr().err
    assert code == 2 and str(runs) in err and "not writable" in err, err


def test_runs_path_that_is_not_a_directory_is_refused_before_training(tmp_path, capsys):
    from benchmark.cli import main

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "runs").write_text("not a directory")
    code = main(["run", "--variant", "nsgan", "--iterations", "2", "--results-dir", str(tmp_path / "results")])
    err = capsys.readouterr().err
    assert code == 2 and "runs" in err and "not writable" in err, err
