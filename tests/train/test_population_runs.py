"""Populations at the engine boundary (execute_population) and in sweeps (population: S / --population)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmark.errors import UsageError
from benchmark.io import run_id
from benchmark.train import sweep as S
from benchmark.train.options import resolve
from benchmark.train.run import execute_population
from models import ConfigError

TINY = {"variant": "nsgan", "data": "ring8", "iterations": 6, "hidden": 8, "log_every": 3, "batch_size": 32,
        "num_samples": 256, "save_samples": 16, "wandb": "disabled", "progress": "off"}


def test_population_runs_write_one_json_per_member_naming_the_engine(tmp_path):
    runs = [{**TINY, "seed": s, "results_dir": str(tmp_path)} for s in (0, 1)]
    records = execute_population(runs)
    assert [r["status"] for r in records] == ["completed", "completed"]
    for k, rec in enumerate(records):
        on_disk = json.loads(Path(rec["written_to"]).read_text())
        assert on_disk["engine"] == {"name": "population", "size": 2, "seeds": [0, 1], "member": k}
        assert on_disk["config"]["engine"] == "population"
        assert on_disk["steps"] == 6 and on_disk["metrics"]
        assert all(p["engine"] == "population of 2" for p in on_disk["protocol"].values())
    # the single run of the same options has another identity: the two are never mixed
    single = resolve({**runs[0]}).config()
    assert "engine" not in single and run_id(single) != records[0]["run_id"]


def test_what_a_population_cannot_do_is_refused_before_anything_is_written(tmp_path):
    base = {**TINY, "results_dir": str(tmp_path)}
    with pytest.raises(UsageError, match="checkpoint_every.*populations"):
        execute_population([{**base, "seed": 0, "checkpoint_every": 3}, {**base, "seed": 1, "checkpoint_every": 3}])
    with pytest.raises(UsageError, match="differ only in seed.*hidden"):
        execute_population([{**base, "seed": 0}, {**base, "seed": 1, "hidden": 16}])
    with pytest.raises(UsageError, match="stop criteria"):
        execute_population([{**base, "seed": 0, "stop_d_above": 0.5}])
    assert not (tmp_path / "runs").exists()


def test_sweep_population_groups_runs_that_differ_only_in_seed_or_optimiser_numbers(tmp_path):
    spec = {"name": "p", "iterations": 5, "seeds": [0, 1, 2], "variants": ["nsgan", "wgan"],
            "datasets": ["ring8"], "grid": {"lr_d": [1e-4, 2e-4]}, "population": 4}
    planned = S.plan(spec, results_dir=str(tmp_path))
    assert all(p.options["engine"] == "population" for p in planned)
    groups = S.group_populations(list(enumerate(planned, 1)), 4)
    # nsgan: 2 lr_d values x 3 seeds may share a population (optimiser numbers), 6 runs -> 3 + 3; wgan likewise
    assert sorted(len(g) for g in groups) == [3, 3, 3, 3]
    for g in groups:
        assert len({r.options["variant"] for _, r in g}) == 1
    assert S.group_populations(list(enumerate(planned, 1)), 1) and all(
        len(g) == 1 for g in S.group_populations(list(enumerate(planned, 1)), 1))
    for bad in (0, -2, "many", 1.5):
        with pytest.raises(ConfigError, match="population"):
            S.population_size({"population": bad})
    assert S.population_size({"population": "auto"}) == "auto" and S.population_size({}) is None
