"""RunRecord: the run JSON typed, byte for byte the same file; malformed records are skipped with a warning."""
import json
import math

import pytest

from benchmark.io import atomic_write_json, load_runs, read_record, read_run_record
from benchmark.records import ABSENT, RunRecord


def full_record() -> dict:
    return {"run_id": "nsgan-ring8-s0-abc", "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "diverged",
            "steps": 40, "wall_time_s": 1.5, "metrics": {"modes_covered": 3.0, "reverse_kl": math.inf},
            "protocol": {"modes_covered": {"num_generated": 2500}}, "config": {"lr_g": 1e-3, "data.batch_size": 64},
            "history": [{"iteration": 10, "d_loss": math.nan}], "versions": {"torch": "2"}, "group": None,
            "trial": {"sweep": "s", "index": 1, "params": {"lr_g": 1e-3}}, "fast_paths": {"lean_dispatch": "on"},
            "diverged_at": 31}


def test_a_record_round_trips_to_the_same_bytes(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    atomic_write_json(a, full_record())
    rec = read_run_record(a)
    assert rec.variant == "nsgan" and rec.seed == 0 and math.isinf(rec.metrics["reverse_kl"])
    assert rec.extra == {"fast_paths": {"lean_dispatch": "on"}, "diverged_at": 31}
    atomic_write_json(b, rec.to_json())
    assert b.read_bytes() == a.read_bytes()


def test_absent_fields_stay_absent():
    rec = RunRecord.from_json({"variant": "nsgan", "group": None})
    assert rec.seed is ABSENT and rec.group is None and rec.get("seed", 7) == 7
    assert rec.to_json() == {"variant": "nsgan", "group": None}


@pytest.mark.parametrize("bad, reason", [
    ({"seed": "zero"}, "seed='zero': expected int"),
    ({"seed": True}, "seed=True"),
    ({"metrics": [1, 2]}, "metrics=[1, 2]: expected dict"),
    ({"metrics": {"fid": "low"}}, "metrics.fid='low'"),
    ({"history": [1]}, "history row"),
    ({"status": None}, "status=None"),
    ({"trial": {"index": "3"}}, "trial.index='3'"),
])
def test_a_malformed_record_is_skipped_with_a_warning_naming_the_field(tmp_path, capsys, bad, reason):
    runs = tmp_path / "runs"
    runs.mkdir()
    atomic_write_json(runs / "good.json", {"variant": "nsgan", "dataset": "ring8", "seed": 0, "metrics": {"fid": 1.0}})
    (runs / "bad.json").write_text(json.dumps({"variant": "nsgan", "dataset": "ring8", "seed": 0, **bad}))
    assert [r["run_id"] for r in load_runs(tmp_path)] == ["good"]
    err = capsys.readouterr().err
    assert "warning: skipping run file" in err and "bad.json" in err and reason in err
    with pytest.raises(ValueError, match="expected|history row"):
        read_record(runs / "bad.json")
