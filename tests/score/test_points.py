"""``evaluate --points``: an (N, 2) array scored with a run's metrics and protocol; bad files exit 2 first."""
import json

import numpy as np
import pytest
import torch

from benchmark.cli import main
from benchmark.score.toy import mixture_reference, mmd2_rbf, mode_statistics
from datamodules import Grid25DataModule


def run(capsys, *argv):
    code = main(["evaluate", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_uniform_points_scored_like_a_run(tmp_path, capsys):
    rng = np.random.default_rng(0)
    pts = rng.uniform(-4.2, 4.2, (3000, 2)).astype(np.float32)
    np.save(tmp_path / "u.npy", pts)
    code, out, err = run(capsys, "--points", str(tmp_path / "u.npy"), "--reference", "grid25",
                         "--json", str(tmp_path / "s.json"))
    assert code == 0 and "scored the first 2500 of 3000 points" in err
    got = json.loads((tmp_path / "s.json").read_text())
    first = torch.from_numpy(pts[:2500])
    dm = Grid25DataModule
    assert got["values"]["mmd"] == pytest.approx(mmd2_rbf(first, mixture_reference(dm), dm.std), rel=1e-9)
    stats = mode_statistics(first, dm.modes(), dm.std)
    assert got["values"]["modes_covered"] == stats["modes_covered"] >= 15          # PacGAN's count passes noise
    assert got["values"]["modes_covered_strict"] == 0                               # the strict count does not
    assert "mmd" in out and got["protocols"]["mmd"]["points_given"] == 3000


@pytest.mark.parametrize("make, expect", [
    (lambda p: None, "no such file"),
    (lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True), "not a plain numeric"),
    (lambda p: np.save(p, np.zeros((10, 3))), "shape (10, 3)"),
    (lambda p: np.save(p, np.array([[0.0, 1.0], [np.nan, 0.0], [1.0, 1.0]])), "NaN or infinite"),
    (lambda p: np.save(p, np.array([["a", "b"], ["c", "d"]])), "dtype"),
    (lambda p: p.write_text("0,1\n1,2\n"), "not a plain numeric"),
])
def test_bad_files_exit_2_with_one_error_line(tmp_path, capsys, make, expect):
    path = tmp_path / "x.npy"
    make(path)
    code, out, err = run(capsys, "--points", str(path), "--reference", "ring8", "--json", str(tmp_path / "s.json"))
    assert code == 2 and err.startswith("error:") and err.count("\n") == 1 and expect in err and "--points" in err
    assert not (tmp_path / "s.json").exists()


def test_reference_must_be_a_mixture_and_one_input(tmp_path, capsys):
    np.save(tmp_path / "p.npy", np.zeros((5, 2)))
    code, _, err = run(capsys, "--points", str(tmp_path / "p.npy"), "--reference", "digits")
    assert code == 2 and "ring8" in err and "grid25" in err
    code, _, err = run(capsys, "--reference", "ring8")
    assert code == 2 and "exactly one of --images" in err
