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
