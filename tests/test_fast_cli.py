"""``--help`` and ``list`` answer without importing torch, and the static catalogue they print is the registries'."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark import commands

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "pytorch_lightning", "lightning_fabric", "models", "datamodules", "numpy")


def registry_list_text() -> str:
    """What ``list`` prints, computed from the real registries (the pre-catalogue implementation)."""
    import datamodules
    import models
    from benchmark import score

    lines = ["variants:"]
    for name, cls in sorted(models.VARIANTS.items()):
        doc = (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else ""
        lines.append(f"  {name:16s} {doc}")
    lines.append("datasets:")
    for name, cls in sorted(datamodules.DATAMODULES.items()):
        lines.append(f"  {name:16s} {cls.kind:6s} {'x'.join(map(str, cls.dims)):10s} "
                     f"metrics: {', '.join(cls.metrics)}")
    lines.append("metrics:")
    for name, group in sorted(score.METRIC_GROUPS.items()):
        arrow = "higher is better" if group.higher_is_better.get(name, True) else "lower is better"
        lines.append(f"  {name:16s} {arrow}")
    return "\n".join(lines) + "\n"


def test_list_output_equals_the_registries(capsys):
    from benchmark.cli import main

    assert main(["list"]) == 0
    assert capsys.readouterr().out == registry_list_text()


def test_light_parsers_match_their_commands():
    from benchmark.perf.harness import DEFAULT_VARIANTS
    from benchmark.theory import EXPERIMENTS

    assert commands.THEORY_EXPERIMENTS == {k: v[0] for k, v in EXPERIMENTS.items()}
    assert tuple(DEFAULT_VARIANTS) == commands.PERF_DEFAULT_VARIANTS


PROBE = """
import io, json, sys, contextlib
from benchmark.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
print(json.dumps({"code": code, "out": out.getvalue(), "heavy": sorted(m for m in sys.modules
      if m.split('.')[0] in %r)}))
""" % (HEAVY,)


# `run --help` is not here on purpose: it lists every option of the variant and dataset (their Config fields and
# constructor signatures), which needs the registries (tests/test_cli.py checks what it lists)
@pytest.mark.parametrize("argv", [["--help"], ["list"], ["perf", "--help"],
                                  ["evaluate", "--help"], ["theory", "--help"], ["sweep", "--help"]])
def test_help_and_list_do_not_import_torch(argv):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True, cwd=ROOT, env=env,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["code"] == 0 and result["out"]
    assert result["heavy"] == [], f"{argv} imported {result['heavy'][:10]}"


def test_option_catalogue_matches_the_registries():
    """The option names `run`/`options`/`sweep` check before importing torch are the schemas' own."""
    import datamodules
    import models
    from benchmark.train import sweep
    from benchmark.train.options import RunOptions, data_schema
    from models.config import GANConfig, field_types

    assert set(commands.RUN_OPTIONS) == set(field_types(RunOptions))
    assert set(commands.GAN_OPTIONS) == set(field_types(GANConfig))
    assert set(commands.VARIANT_OPTIONS) == set(models.VARIANTS)
    for name, cls in models.VARIANTS.items():
        assert set(commands.GAN_OPTIONS) | set(commands.VARIANT_OPTIONS[name]) == set(field_types(cls.Config)), name
    assert {n: set(o) for n, o in commands.DATASET_OPTIONS.items()} == \
        {n: set(data_schema(c)) for n, c in datamodules.DATAMODULES.items()}
    assert set(commands.SWEEP_KEYS) == set(sweep.SWEEP_KEYS)


def test_data_file_catalogue_matches_the_datamodules(tmp_path):
    import datamodules
    from datamodules.vision import DATA_ENV, TorchvisionImageDataModule

    needs_files = {n for n, c in datamodules.DATAMODULES.items() if issubclass(c, TorchvisionImageDataModule)}
    assert set(commands.DATA_FILES) == needs_files and commands.DATA_ENV == DATA_ENV
    for name, (folder, files) in commands.DATA_FILES.items():
        dm = datamodules.DATAMODULES[name](root=str(tmp_path))
        assert (dm.directory.relative_to(tmp_path).as_posix(), tuple(dm.required_files())) == (folder, files), name


REFUSAL_PROBE = """
import io, json, sys, contextlib
from benchmark.cli import main
err = io.StringIO()
with contextlib.redirect_stderr(err):
    try:
        code = main(sys.argv[1:])
    except SystemExit as e:
        code = e.code
print(json.dumps({"code": code, "err": err.getvalue(), "heavy": sorted(m for m in sys.modules
      if m.split('.')[0] in %r)}))
""" % (HEAVY,)


def _sweep_file(tmp_path, text):
    p = tmp_path / "s.yaml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("argv, fragments", [
    (["run", "--variant", "wgan-gpp"], ["unknown variant 'wgan-gpp'", "did you mean 'wgan_gp'", "choose one of:"]),
    (["run", "--variant", "nsgan", "--data", "rng8"], ["unknown dataset 'rng8'", "did you mean 'ring8'"]),
    (["run", "--variant", "wgan-gp", "--lr", "1e-3"],
     ["unknown option 'lr'", "did you mean --lr-g, --lr-d", "options --variant wgan_gp --data ring8"]),
    (["run", "--variant", "nsgan", "--n-critc", "2"], ["unknown option 'n_critc'", "did you mean --n-critic"]),
    (["run", "--data", "ring8", "--iterations", "10"], ["run needs --variant", "wgan_gp"]),
    (["run", "--variant", "wgn", "--help"], ["unknown variant 'wgn'", "did you mean 'wgan'"]),
    (["options", "--variant", "wgan-gpx"], ["unknown variant 'wgan-gpx'", "did you mean 'wgan_gp'"]),
    (["options", "--data", "cifar"], ["unknown dataset 'cifar'", "did you mean 'cifar10'"]),
    (["sweep", "S:variants: [nsgan, wgan-gp]\ndatasets: [ring8]\nseeds: [0]\n"],
     ["s.yaml", "wgan-gp", "write 'wgan_gp'"]),
    (["sweep", "S:variants: [nsgan]\ndatasets: [ring8, digitz]\nseeds: [0]\n"], ["unknown dataset 'digitz'",
                                                                                 "did you mean 'digits'"]),
    (["sweep", "S:variants: [wgan]\ndatasets: [ring8]\nseeds: [0]\nvariant_options: {wgan: {clipp: 0.1}}\n"],
     ["variant_options.wgan", "option 'clipp'", "did you mean clip"]),
    (["sweep", "S:variants: [nsgan]\ndatasets: [ring8]\nseeds: [0]\ngrid: {lr: [1e-3]}\n"],
     ["grid", "option 'lr'", "did you mean lr_g, lr_d"]),
    # missing data: the CLI's own words (--download true, --root), within a second, exit 2, no run file
    (["run", "--variant", "nsgan", "--data", "cifar10", "--root", "ROOT"],
     ["dataset 'cifar10' not found", "cifar-10-batches-py", "data_batch_1", "--download true", "--root DIR"]),
    (["run", "--variant", "nsgan", "--data", "mnist", "--root", "ROOT", "--download", "false"],
     ["dataset 'mnist' not found", "MNIST/raw", "--download true"]),
    (["sweep", "S:variants: [nsgan]\ndatasets: [fashion_mnist]\nseeds: [0]\nroot: ROOT\n"],
     ["dataset 'fashion_mnist' not found", "download: true", "root: DIR", "dataset_options.fashion_mnist"]),
    (["evaluate", "--images", "ROOT", "--reference", "cifar10"],
     ["--reference cifar10: not found", "never downloads", "GANBENCH_DATA=DIR", "--download true"]),
])
def test_misspelled_names_are_refused_before_torch_with_a_suggestion(argv, fragments, tmp_path):
    """`run`, `options` and `sweep` refuse a misspelled name from the static catalogue: exit 2, one `error:` line
    with a did-you-mean, and no torch/Lightning/models import (what made it take 9-18 s)."""
    argv = [_sweep_file(tmp_path, a[2:].replace("ROOT", str(tmp_path / "data"))) if a.startswith("S:")
            else a.replace("ROOT", str(tmp_path / "data")) for a in argv]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if argv[0] in ("run", "sweep"):
        argv += ["--results-dir", str(tmp_path / "r")]
    out = subprocess.run([sys.executable, "-c", REFUSAL_PROBE, *argv],
                         capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    err = result["err"]
    assert result["code"] == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    for fragment in fragments:
        assert fragment in err, (fragment, err)
    assert "valid options:" not in err                  # a suggestion, not 56 names
    assert result["heavy"] == [], f"{argv} imported {result['heavy'][:10]}"
    assert not (tmp_path / "r").exists()


def test_names_are_canonical_and_integral_floats_are_ints():
    from benchmark.suggest import check_run_names
    from benchmark.train.options import resolve
    from models import ConfigError

    opts = check_run_names({"variant": "wgan-gp", "data": "ring8", "lr-g": "1e-3"})
    assert opts["variant"] == "wgan_gp" and "lr_g" in opts
    assert resolve({"variant": "wgan_gp", "iterations": "1e3"}).model["iterations"] == 1000
    assert resolve({"variant": "wgan_gp", "iterations": "2000.0"}).model["iterations"] == 2000
    for bad in ("1.5", "1e-3", "inf", "ten"):
        with pytest.raises(ConfigError, match="not a valid int"):
            resolve({"variant": "wgan_gp", "iterations": bad})


def test_flags_are_never_abbreviated():
    """`report --wandb disabled` is not read as `--wandb-report` (allow_abbrev=False on every parser)."""
    from benchmark.cli import build_parser

    parser = build_parser()
    args, extra = parser.parse_known_args(["report", "--wandb-rep"])
    assert not args.wandb_report and extra == ["--wandb-rep"]
    args, extra = parser.parse_known_args(["run", "--var", "nsgan"])
    assert args.variant is None and extra == ["--var", "nsgan"]
