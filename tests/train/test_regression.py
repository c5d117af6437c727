"""CI's learning check: train the default sweep's ring8 runs of two objectives for one seed and hold them to
the shipped results/thresholds.yaml through `python -m benchmark check` — a change that breaks learning fails."""
from pathlib import Path

from benchmark.train import sweep as S
from benchmark.cli import main
from benchmark.train.run import execute

ROOT = Path(__file__).resolve().parents[2]


def test_default_sweep_ring8_meets_the_shipped_thresholds(tmp_path, capsys):
    spec = S.load_sweep(S.DEFAULT_SWEEP)
    planned = [r for r in S.plan(spec, results_dir=str(tmp_path))
               if r.options["data"] == "ring8" and r.options["variant"] in ("nsgan", "minimax")
               and r.options["seed"] == 0]
    assert len(planned) == 2
    for run in planned:
        rec = execute({**run.options, "wandb": "disabled", "save_samples": 0})
        assert rec["status"] == "completed", rec.get("error")
    code = main(["check", "--thresholds", str(ROOT / "results" / "thresholds.yaml"), "--results-dir", str(tmp_path),
                 "--only", "nsgan/ring8,minimax/ring8"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "bounds: 8 held, 0 breached" in out       # modes_covered, high_quality, mmd, modes_covered_strict each
