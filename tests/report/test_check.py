"""`check --results-dir X` reads X/thresholds.yaml (else the repository's committed file), wherever it is run."""
from pathlib import Path

from benchmark.cli import main
from benchmark.io import atomic_write_json
from benchmark.report.check import REPO_THRESHOLDS, thresholds_path


def write_run(root: Path, modes: float) -> None:
    atomic_write_json(root / "runs" / "nsgan-ring8-s0-x.json", {
        "run_id": "nsgan-ring8-s0-x", "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "completed",
        "metrics": {"modes_covered": modes}, "config": {}, "finished_at": "2026-01-01T00:00:00"})


def test_thresholds_are_found_relative_to_the_results_dir(tmp_path, monkeypatch, capsys):
    res = tmp_path / "elsewhere"
    write_run(res, 3.0)
    (res / "thresholds.yaml").write_text("nsgan:\n  ring8:\n    modes_covered: '>= 2'\n")
    monkeypatch.chdir(tmp_path)                       # no results/thresholds.yaml under the current directory
    assert thresholds_path(res) == res / "thresholds.yaml"
    assert main(["check", "--results-dir", str(res)]) == 0
    assert f"thresholds: {res / 'thresholds.yaml'}" in capsys.readouterr().out
    (res / "thresholds.yaml").write_text("nsgan:\n  ring8:\n    modes_covered: '>= 4'\n")
    assert main(["check", "--results-dir", str(res)]) == 1                  # the bound of X's file breaches
    other = tmp_path / "other.yaml"
    other.write_text("nsgan:\n  ring8:\n    modes_covered: '>= 1'\n")
    assert main(["check", "--results-dir", str(res), "--thresholds", str(other)]) == 0   # --thresholds wins


def test_without_a_local_file_the_repository_thresholds_are_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert REPO_THRESHOLDS.is_file() and REPO_THRESHOLDS.parent.name == "results"
    assert thresholds_path(tmp_path / "fresh") == REPO_THRESHOLDS


def test_check_says_what_the_bounds_were_calibrated_on_and_flags_results_that_differ(tmp_path, capsys):
    """The bounds' provenance (the file's `calibration`) is printed; runs of another budget or other seeds are
    flagged (a quick run breaching default-sweep bounds is no regression), runs that match are not."""
    import yaml

    from benchmark.report.check import load_calibration

    res = tmp_path / "res"
    cal = "calibration: {sweep: default, seeds: [0, 1], iterations: {ring8: 2000}, measured: '2026-12-02'}\n"
    (res / "runs").mkdir(parents=True)
    (res / "thresholds.yaml").write_text(cal + "nsgan:\n  ring8:\n    modes_covered: '>= 2'\n")
    for seed, its in ((0, 100), (1, 100)):
        atomic_write_json(res / "runs" / f"nsgan-ring8-s{seed}-x.json", {
            "run_id": f"nsgan-ring8-s{seed}-x", "variant": "nsgan", "dataset": "ring8", "seed": seed,
            "status": "completed", "metrics": {"modes_covered": 3.0}, "config": {"iterations": its},
            "finished_at": "2026-01-01T00:00:00"})
    assert main(["check", "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    assert "calibrated on: sweep default, seeds [0, 1], iterations ring8 2000, measured 2026-12-02" in out
    assert "warning:" in out and "ring8: 100 iterations (bounds: 2000)" in out
    (res / "runs" / "nsgan-ring8-s1-x.json").unlink()
    atomic_write_json(res / "runs" / "nsgan-ring8-s0-x.json", {
        "run_id": "nsgan-ring8-s0-x", "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "completed",
        "metrics": {"modes_covered": 3.0}, "config": {"iterations": 2000}, "finished_at": "2026-01-01T00:00:00"})
    assert main(["check", "--results-dir", str(res)]) == 0
    out = capsys.readouterr().out
    assert "ring8: seeds [0] (bounds: [0, 1])" in out and "iterations (bounds" not in out
    write_run(tmp_path / "same", 3.0)
    (tmp_path / "same" / "thresholds.yaml").write_text(
        "calibration: {seeds: [0]}\nnsgan:\n  ring8:\n    modes_covered: '>= 2'\n")
    assert main(["check", "--results-dir", str(tmp_path / "same")]) == 0
    assert "warning" not in capsys.readouterr().out
    repo = load_calibration(REPO_THRESHOLDS)            # the committed bounds record theirs
    assert repo["seeds"] == [0, 1, 2, 3, 4] and repo["iterations"] == {"ring8": 2000, "grid25": 2000, "digits": 1000}
    default = yaml.safe_load((REPO_THRESHOLDS.parents[1] / "benchmark" / "sweeps" / "default.yaml").read_text())
    assert repo["seeds"] == default["seeds"]
    assert repo["iterations"] == {d: o["iterations"] for d, o in default["dataset_options"].items()}
    (res / "thresholds.yaml").write_text("calibration: {seeds: three}\nnsgan:\n  ring8:\n    modes_covered: '>= 2'\n")
    assert main(["check", "--results-dir", str(res)]) == 2
    assert "calibration.seeds must be a list" in capsys.readouterr().err
