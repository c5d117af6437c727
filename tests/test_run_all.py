"""./run_all.sh reads its arguments the same whatever their spelling (RUN_ALL_DRY_RUN=1: parse, print, set up nothing)."""
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def plan(*args: str) -> list[str]:
    out = subprocess.run(["bash", str(ROOT / "run_all.sh"), *args], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "RUN_ALL_DRY_RUN": "1"})
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


@pytest.mark.parametrize("form", [["--results-dir", "/tmp/x y"], ["--results-dir=/tmp/x y"]])
def test_results_dir_with_or_without_equals_reaches_report_and_check(form):
    lines = plan(*form)
    assert lines[0] == f"python -m benchmark sweep {' '.join(form)}"
    assert lines[1:] == ["python -m benchmark report --results-dir /tmp/x y",
                         "python -m benchmark check --results-dir /tmp/x y"]


def test_quick_or_a_sweep_file_is_not_checked_against_the_default_bounds():
    assert plan("--quick", "--results-dir=/tmp/q")[1:] == ["python -m benchmark report --results-dir /tmp/q"]
    assert plan("benchmark/sweeps/toy.yaml")[1:] == ["python -m benchmark report --results-dir results"]


def test_results_dir_without_a_value_is_refused():
    out = subprocess.run(["bash", str(ROOT / "run_all.sh"), "--results-dir"], capture_output=True, text=True,
                         timeout=60, env={**os.environ, "RUN_ALL_DRY_RUN": "1"})
    assert out.returncode == 2 and out.stderr.startswith("error: --results-dir")
