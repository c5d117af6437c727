"""A leaderboard cell's command reproduces its run; ``options --sweep`` shows what the sweep really uses."""
from pathlib import Path

import yaml

from benchmark.cli import main, parse_extra_options
from benchmark.io import run_id
from benchmark.train.options import reproduce_command, resolve

RECIPES = Path(__file__).parents[2] / "benchmark" / "sweeps" / "recipes.yaml"


def test_reproduce_command_gives_back_the_run_id():
    opts = {"variant": "wgan_gp", "data": "grid25", "seed": 3, "lr_g": 0.000102, "lr_d": 0.000167, "n_critic": 1,
            "gp_weight": 1.0, "batch_size": 256, "iterations": 2000, "lr_schedule": "linear", "threads": 1}
    config = resolve(opts).config()
    cmd = reproduce_command(config)
    assert cmd.startswith("python -m benchmark run --variant wgan_gp --data grid25 --seed 3 ")
    assert "--lr-g 0.000102" in cmd and "--n-critic 1" in cmd and "--batch-size 256" in cmd
    assert "--threads" not in cmd and "--beta2" not in cmd          # execution options and defaults left out
    again = resolve(parse_extra_options(cmd.split()[4:])).config()
    assert run_id(again) == run_id(config)


def test_options_sweep_shows_the_recipe(capsys):
    recipe = yaml.safe_load(RECIPES.read_text())["wgan_gp"]["grid25"]["options"]
    assert main(["options", "--variant", "wgan_gp", "--data", "grid25", "--sweep", "default"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if "--lr-g " in x)
    assert f" {recipe['lr_g']} " in line and "[sweep; default" in line
    assert next(x for x in out.splitlines() if "--iterations " in x).split()[2] == "2000"
    assert main(["options", "--variant", "wgan_gp", "--data", "mnist", "--sweep", "default"]) == 2
    assert main(["options", "--sweep", "nosuch"]) == 2
    assert "default" in capsys.readouterr().err
