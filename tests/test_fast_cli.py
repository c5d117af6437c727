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
