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
    with pytest.raises(UsageError, match="compile.*populations"):
        execute_population([{**base, "seed": 0, "compile": True}, {**base, "seed": 1, "compile": True}])
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


def _evals(history: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k == "iteration" or k.startswith("eval/")} for row in history
            if any(k.startswith("eval/") for k in row)]


def test_each_member_scores_in_training_and_keeps_samples_as_its_single_run(tmp_path):
    """eval_every: member k's eval/<metric> rows are those of the single run of seed k (the same weights up to the
    engines' rounding, the same fixed-seed noise); its kept samples too (drawn from its own noise stream)."""
    import numpy as np

    from benchmark.train.run import execute

    opts = {**TINY, "iterations": 10, "log_every": 5, "eval_every": 5, "eval_samples": 300, "save_samples": 64,
            "metrics": "mmd,high_quality,modes_covered", "results_dir": str(tmp_path), "threads": 1}
    members = execute_population([{**opts, "seed": s} for s in (0, 1)])
    for seed, member in zip((0, 1), members):
        single = execute({**opts, "seed": seed})
        got, want = _evals(member["history"]), _evals(single["history"])
        assert [r["iteration"] for r in got] == [r["iteration"] for r in want] == [5, 10]
        for a, b in zip(got, want):
            assert a.keys() == b.keys() == {"iteration", "eval/mmd", "eval/high_quality", "eval/modes_covered"}
            assert a == pytest.approx(b, rel=1e-3, abs=1e-5)
        kept = np.load(tmp_path / member["samples"]), np.load(tmp_path / single["samples"])
        assert kept[0].shape == (64, 2) and np.allclose(*kept, rtol=1e-4, atol=1e-5)
        assert (tmp_path / member["sample_plot"]).exists()


def test_each_member_is_one_wandb_run_of_the_group(tmp_path, monkeypatch, capsys):
    """W&B offline: one W&B run per member, named by its run id, in the sweep's group, with its training rows,
    in-training scores, sample plots and final scores; nothing prompts (no key, offline)."""
    from tests.train.test_tracking import offline_runs, read_offline_run

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    for name, sub in (("WANDB_DIR", "wandb"), ("WANDB_CONFIG_DIR", "wandb_config"), ("WANDB_CACHE_DIR", "wandb_cache")):
        monkeypatch.setenv(name, str(tmp_path / sub))
    opts = {**TINY, "iterations": 10, "log_every": 5, "eval_every": 5, "eval_samples": 200, "sample_every": 5,
            "metrics": "mmd,modes_covered", "wandb": "auto", "group": "popsweep", "results_dir": str(tmp_path / "r"),
            "threads": 1}
    members = execute_population([{**opts, "seed": s} for s in (0, 1)])
    assert [m["status"] for m in members] == ["completed", "completed"]
    assert not [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning: W&B")]
    runs = {r["run"].display_name: r for r in map(read_offline_run, offline_runs(tmp_path))}
    assert sorted(runs) == sorted(m["run_id"] for m in members)
    for member in members:
        got = runs[member["run_id"]]
        assert got["run"].run_group == "popsweep" and got["run"].job_type == "train"
        assert got["config"]["run"]["seed"] == member["seed"] and got["config"]["run"]["engine"] == "population"
        assert got["config"]["model"]["data_shape"] == [2]
        train = [row for row in got["history"] if "train/d_loss" in row]
        assert [row["iteration"] for row in train] == [h["iteration"] for h in member["history"]] == [5, 10]
        assert train[0]["train/d_loss"] == pytest.approx(member["history"][0]["d_loss"])
        evals = [row for row in got["history"] if "eval/mmd" in row]
        assert [row["iteration"] for row in evals] == [5, 10]
        assert evals[0]["eval/mmd"] == pytest.approx(member["history"][0]["eval/mmd"])
        assert any("samples/_type" in row and row["iteration"] == 5 for row in got["history"])
        assert got["summary"]["status"] == "completed"
        assert got["summary"]["final/mmd"] == pytest.approx(member["metrics"]["mmd"])
