"""Registry and CLI error paths, atomic result writing, and a short end-to-end run through the CLI."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main
from benchmark.io import atomic_write_json, load_runs, run_id

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd=None):
    env = {**os.environ, "WANDB_MODE": "disabled", "PYTHONWARNINGS": "ignore"}
    return subprocess.run([sys.executable, "-m", "benchmark", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, env=env, timeout=300)


def test_help_lists_the_subcommands():
    out = run_cli("--help")
    assert out.returncode == 0
    for cmd in ("list", "run", "report", "sweep"):
        assert cmd in out.stdout


def test_list_prints_variants_datasets_metrics(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("minimax", "nsgan", "ring8", "grid25", "digits", "modes_covered"):
        assert name in out


@pytest.mark.parametrize("argv, fragment", [
    (["run", "--variant", "nosuchgan"], "unknown variant 'nosuchgan'; choose one of:"),
    (["run", "--data", "nosuchdata"], "unknown dataset 'nosuchdata'; choose one of:"),
    (["run", "--lr-gee", "0.1"], "unknown option 'lr_gee'"),
    (["run", "--lr-g", "-1"], "lr_g=-1.0 must be > 0"),
    (["run", "--n-critic", "0"], "n_critic=0 must be >= 1"),
    (["run", "--iterations", "ten"], "iterations='ten' is not a valid int"),
    (["run", "--arch", "resnet"], "arch='resnet' is not valid; choose one of: mlp, dcgan"),
    (["run", "--variant", "minimax", "--pi", "1.5"], "pi=1.5 must lie strictly between 0 and 1"),
    (["run", "--data", "ring8", "--arch", "dcgan"], "arch='dcgan' needs image data"),
])
def test_bad_input_exits_2_and_writes_nothing(argv, fragment, tmp_path, capsys):
    code = main([*argv, "--results-dir", str(tmp_path / "res"), "--iterations", "1"]
                if "--iterations" not in argv else [*argv, "--results-dir", str(tmp_path / "res")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert fragment in err and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_bad_config_file(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("- a\n- b\n")
    assert main(["run", "--config", str(cfg), "--results-dir", str(tmp_path / "r")]) == 2
    assert "must hold a mapping" in capsys.readouterr().err
    cfg.write_text("lr_g: [unclosed\n")
    assert main(["run", "--config", str(cfg), "--results-dir", str(tmp_path / "r")]) == 2
    assert "is not valid YAML" in capsys.readouterr().err
    assert main(["run", "--config", str(tmp_path / "missing.yaml")]) == 2


def test_unwritable_results_dir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["run", "--iterations", "1", "--results-dir", str(blocker)]) == 2
    assert "is not writable" in capsys.readouterr().err


def test_atomic_write_keeps_the_old_file_on_failure(tmp_path):
    p = tmp_path / "runs" / "a.json"
    atomic_write_json(p, {"v": 1})

    class Boom:
        pass

    with pytest.raises(TypeError):
        atomic_write_json(p, {"v": Boom()})
    assert json.loads(p.read_text()) == {"v": 1}
    assert [f.name for f in p.parent.iterdir()] == ["a.json"]      # no temp file left behind


def test_run_id_is_stable_and_config_sensitive():
    c = {"variant": "nsgan", "data": "ring8", "seed": 0, "lr_g": 1e-4}
    assert run_id(c) == run_id(dict(reversed(list(c.items()))))
    assert run_id(c) != run_id({**c, "lr_g": 2e-4})


def test_end_to_end_run_through_the_cli(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("hidden: 32\nlog_every: 10\n")
    out = run_cli("run", "--variant", "nsgan", "--data", "ring8", "--seed", "1", "--iterations", "40",
                  "--config", str(cfg), "--results-dir", str(tmp_path / "res"), "--batch-size", "64")
    assert out.returncode == 0, out.stderr[-2000:]
    (rec,) = load_runs(tmp_path / "res")
    for key in ("variant", "dataset", "seed", "status", "steps", "wall_time_s", "metrics", "protocol", "config",
                "versions"):
        assert key in rec
    assert rec["status"] == "completed" and rec["steps"] == 40 and rec["seed"] == 1
    assert rec["config"]["hidden"] == 32 and rec["config"]["data.batch_size"] == 64
    assert set(rec["metrics"]) == {"mmd", "modes_covered_strict", "modes_covered", "high_quality", "reverse_kl"}
    assert rec["protocol"]["modes_covered"]["num_generated"] == 2500
    assert [h["iteration"] for h in rec["history"]] == [10, 20, 30, 40]
    assert rec["versions"]["torch"]
    assert (tmp_path / "res" / rec["sample_plot"]).exists()
    rep = run_cli("report", "--results-dir", str(tmp_path / "res"))
    assert rep.returncode == 0, rep.stderr[-2000:]
    summary = (tmp_path / "res" / "summary.md").read_text()
    assert "| nsgan | 1/0/0 |" in summary and "PacGAN" in summary
    assert (tmp_path / "res" / "summary.csv").read_text().startswith("dataset,variant,metric")


def test_wandb_offline_without_a_key_writes_a_local_run(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_API_KEY", "WANDB_MODE")}
    env.update(WANDB_DIR=str(tmp_path), PYTHONWARNINGS="ignore")
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--variant", "nsgan", "--data", "ring8",
                          "--iterations", "20", "--log-every", "10", "--hidden", "16", "--results-dir",
                          str(tmp_path / "res")], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300,
                         stdin=subprocess.DEVNULL)
    assert out.returncode == 0, out.stderr[-2000:]
    (rec,) = load_runs(tmp_path / "res")
    runs = list((tmp_path / "wandb").glob(f"offline-run-*-{rec['run_id']}-*"))
    assert len(runs) == 1 and any(runs[0].rglob("*.wandb"))


def test_print_config_reads_back_with_config_to_the_same_run(tmp_path, capsys):
    import yaml

    from benchmark.train.options import resolve

    assert main(["run", "--variant", "wgan", "--data", "digits", "--clip", "0.02", "--print-config"]) == 0
    text = capsys.readouterr().out
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert yaml.safe_load(text)["clip"] == 0.02
    assert main(["run", "--config", str(path), "--print-config"]) == 0
    assert capsys.readouterr().out == text
    original = resolve({"variant": "wgan", "data": "digits", "clip": 0.02})
    assert resolve(yaml.safe_load(text)).config() == original.config()
    assert not (tmp_path / "results").exists()


def test_run_help_lists_every_option_of_the_variant_and_dataset(capsys):
    with pytest.raises(SystemExit) as e:
        main(["run", "--variant", "wgan", "--data", "digits", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    for name in ("--clip", "--critic-warmup", "--n-critic", "--lr-schedule", "--batch-size", "--checkpoint-every",
                 "--print-config"):
        assert name in out, name
