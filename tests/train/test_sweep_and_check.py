"""Sweep expansion, resume, failure isolation; threshold parsing and every exit code of `check`; the report."""
import io
import json
from pathlib import Path

import pytest

from benchmark.train import sweep as S
from benchmark.report.check import ThresholdError, evaluate_bounds, parse_thresholds
from benchmark.cli import main
from benchmark.report import build_report
from benchmark.report.aggregate import aggregate, run_labels
from benchmark.io import atomic_write_json, load_runs
from models import ConfigError

TINY = {"iterations": 4, "hidden": 8, "log_every": 2, "batch_size": 32, "save_samples": 16, "num_samples": 256}


def spec(**kw):
    base = {"name": "t", "seeds": [0, 1], "variants": ["minimax", "nsgan"], "datasets": ["ring8"],
            "options": dict(TINY)}
    base.update(kw)
    return base


def test_expansion_is_the_cartesian_product_with_precedence():
    s = spec(datasets=["ring8", "grid25"], grid={"lr_g": [1e-4, 2e-4]},
             dataset_options={"grid25": {"hidden": 16}}, variant_options={"minimax": {"pi": 0.3}})
    runs = S.expand(s)
    assert len(runs) == 2 * 2 * 2 * 2
    g = [r for r in runs if r["data"] == "grid25" and r["variant"] == "minimax"]
    assert all(r["hidden"] == 16 and r["pi"] == 0.3 and r["group"] == "t" for r in g)
    assert {r["lr_g"] for r in runs} == {1e-4, 2e-4}


def test_quick_overrides_win_and_validation_names_the_bad_run():
    s = spec(quick={"seeds": [0], "iterations": 2}, dataset_options={"ring8": {"iterations": 50}})
    runs = S.expand(s, quick=True)
    assert len(runs) == 2 and all(r["iterations"] == 2 for r in runs)
    with pytest.raises(ConfigError, match="sweep run minimax/ring8/seed 0: unknown option 'clip'"):
        S.plan(spec(options={**TINY, "clip": 0.3}))
    with pytest.raises(ConfigError, match="'seeds' must be a non-empty list"):
        S.expand(spec(seeds=[]))


def test_sweep_resumes_and_isolates_failures(tmp_path, monkeypatch):
    from datamodules import Grid25DataModule

    def broken(self):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(Grid25DataModule, "load", broken)
    s = spec(seeds=[0], variants=["nsgan"], datasets=["grid25", "ring8"])
    out = io.StringIO()
    recs = S.run_sweep(s, results_dir=str(tmp_path), stream=out)
    assert [r["status"] for r in recs] == ["failed", "completed"]
    assert "disk on fire" in recs[0]["error"]
    assert "[2/2]" in out.getvalue() and "ETA" in out.getvalue()
    monkeypatch.undo()
    out = io.StringIO()
    recs = S.run_sweep(s, results_dir=str(tmp_path), stream=out)      # failed run retried, completed skipped
    assert [r["dataset"] for r in recs] == ["grid25"] and recs[0]["status"] == "completed"
    assert "done already (skipped)" in out.getvalue()
    assert S.run_sweep(s, results_dir=str(tmp_path), stream=io.StringIO()) == []


def fixture_run(tmp_path, variant, dataset, seed, metrics, status="completed", **config):
    rec = {"run_id": f"{variant}-{dataset}-s{seed}-{len(config)}{abs(hash(json.dumps(config, sort_keys=True))) % 999}",
           "variant": variant, "dataset": dataset, "seed": seed, "status": status, "steps": 100,
           "wall_time_s": 1.0, "metrics": metrics, "finished_at": f"2026-01-01T00:00:0{seed}",
           "protocol": {m: {"implementation": "test", "num_generated": 2500} for m in metrics},
           "config": {"variant": variant, "seed": seed, **config}}
    atomic_write_json(tmp_path / "runs" / f"{rec['run_id']}.json", rec)
    return rec


def test_thresholds_parsing_errors():
    assert parse_thresholds({"nsgan": {"ring8": {"modes_covered": ">= 6"}}})[0].value == 6.0
    for bad, msg in [({"nosuch": {"ring8": {"modes_covered": ">= 1"}}}, "unknown variant 'nosuch'"),
                     ({"nsgan": {"mars": {"modes_covered": ">= 1"}}}, "unknown dataset 'mars'"),
                     ({"nsgan": {"ring8": {"beauty": ">= 1"}}}, "unknown metric 'beauty'"),
                     ({"nsgan": {"ring8": {"modes_covered": "about 6"}}}, "must look like"),
                     ([1, 2], "expected a mapping")]:
        with pytest.raises(ThresholdError, match=msg):
            parse_thresholds(bad)


def test_check_exit_codes(tmp_path, capsys):
    for seed, modes in enumerate([7.0, 8.0, 6.0]):
        fixture_run(tmp_path, "nsgan", "ring8", seed, {"modes_covered": modes, "high_quality": 60.0})
    th = tmp_path / "th.yaml"
    th.write_text("nsgan:\n  ring8:\n    modes_covered: '>= 6'\n    high_quality: '> 50'\n")
    assert main(["check", "--thresholds", str(th), "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "7" in out and "bounds: 2 held, 0 breached" in out
    th.write_text("nsgan:\n  ring8:\n    modes_covered: '>= 9'\n")                   # unmeetable
    assert main(["check", "--thresholds", str(th), "--results-dir", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out
    th.write_text("minimax:\n  ring8:\n    modes_covered: '>= 1'\n")                  # no results = breach
    assert main(["check", "--thresholds", str(th), "--results-dir", str(tmp_path)]) == 1
    assert "no results" in capsys.readouterr().out
    th.write_text("nsgan:\n  ring8:\n    fidelity: '>= 1'\n")
    assert main(["check", "--thresholds", str(th), "--results-dir", str(tmp_path)]) == 2
    th.write_text("nsgan: [\n")
    assert main(["check", "--thresholds", str(th), "--results-dir", str(tmp_path)]) == 2
    assert main(["check", "--thresholds", str(tmp_path / "missing.yaml")]) == 2


def test_diverged_run_breaches_and_latest_run_per_seed_counts(tmp_path):
    fixture_run(tmp_path, "nsgan", "ring8", 0, {"modes_covered": 8.0}, lr_g=1)
    rec = fixture_run(tmp_path, "nsgan", "ring8", 0, {}, status="diverged", lr_g=2)
    rec["finished_at"] = "2027-01-01T00:00:00"
    atomic_write_json(tmp_path / "runs" / f"{rec['run_id']}.json", rec)
    (row,) = evaluate_bounds(parse_thresholds({"nsgan": {"ring8": {"modes_covered": ">= 1"}}}),
                             load_runs(tmp_path))
    assert not row.passed and row.n == 1


def test_report_from_fixture_runs(tmp_path):
    for seed, modes in enumerate([6.0, 8.0]):
        fixture_run(tmp_path, "nsgan", "ring8", seed, {"modes_covered": modes, "reverse_kl": 0.1 * (seed + 1)})
    fixture_run(tmp_path, "nsgan", "ring8", 0, {"modes_covered": 2.0}, minibatch_kernels=16)
    fixture_run(tmp_path, "wgan", "ring8", 0, {}, status="failed")
    runs = load_runs(tmp_path)
    labels = set(run_labels(runs).values())
    assert "nsgan [minibatch_kernels=16]" in labels and "wgan" in labels
    rows = {(r.variant, r.metric): r for r in aggregate(runs)}
    m = rows[("nsgan [minibatch_kernels=None]", "modes_covered")]
    assert m.mean == 7.0 and m.std == pytest.approx(2 ** 0.5) and m.n == 2 and m.best == 8.0
    assert rows[("nsgan [minibatch_kernels=None]", "reverse_kl")].best == pytest.approx(0.1)   # lower is better
    paths = build_report(tmp_path)
    md = (tmp_path / "summary.md").read_text()
    assert "7 ± 1.4 (n=2; best 8)" in md and "PacGAN" in md and "## Failed runs" in md
    assert any(str(p).endswith("summary.csv") for p in paths)


def test_wandb_export_runs_each_planned_run_by_index(tmp_path, capsys):
    import yaml

    sw = tmp_path / "s.yaml"
    sw.write_text(yaml.safe_dump({**spec(seeds=[0], variants=["nsgan"], datasets=["ring8", "grid25"]),
                                  "dataset_options": {"grid25": {"hidden": 16}}}))
    out = tmp_path / "w.yaml"
    assert main(["sweep", str(sw), "--export-wandb", str(out)]) == 0
    cfg = yaml.safe_load(out.read_text())
    assert cfg["method"] == "grid" and cfg["parameters"]["index"]["values"] == [0, 1]
    assert cfg["command"][:6] == ["${env}", "python", "-m", "benchmark", "sweep", str(sw.resolve())]
    assert main(["sweep", str(sw), "--index", "1", "--results-dir", str(tmp_path / "r")]) == 0
    (rec,) = load_runs(tmp_path / "r")
    assert rec["dataset"] == "grid25" and rec["config"]["hidden"] == 16       # per-dataset option kept
    assert main(["sweep", str(sw), "--index", "5", "--results-dir", str(tmp_path / "r")]) == 2


def test_variants_all_expands_to_every_registered_variant_and_only_lists_or_all_are_accepted():
    import models
    from models import ConfigError

    runs = S.expand(spec(variants="all", seeds=[0]))
    assert [r["variant"] for r in runs] == sorted(models.VARIANTS)
    with pytest.raises(ConfigError, match="non-empty list or 'all'"):
        S.expand(spec(variants="every"))


@pytest.mark.parametrize("path", sorted(Path(__file__).parents[2].joinpath("benchmark", "sweeps").glob("*.yaml")),
                         ids=lambda p: p.name)
def test_every_shipped_sweep_file_plans(path, tmp_path):
    """Each sweep file the package ships validates and expands into runs (what `sweep --dry-run` does), recipes and
    search sections included: a file that a later change made invalid fails here, not on a user's machine."""
    if path.name == "recipes.yaml":
        from benchmark.train.recipes import load_recipes
        assert load_recipes(path)
        return
    runs = S.plan(S.load_sweep(str(path)), results_dir=str(tmp_path))
    assert runs and len({r.run_id for r in runs}) == len(runs)
    assert not list(tmp_path.iterdir())                  # planning writes nothing
