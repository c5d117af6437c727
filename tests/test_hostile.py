"""A hostile user's inputs, as a table: every case ends with exit 2, exactly one ``error:`` line naming the file or
option and the fix, and nothing written (the files the case planted are byte-for-byte unchanged, none added).

The cases are grouped by class: configs (shape, YAML bombs, duplicate keys, encodings, sizes), sweeps (sizes counted
before materialising, names, shapes, W&B export targets), thresholds, tune, report and evaluate. Everything runs
in-process through ``benchmark.cli.main`` (no training: each case is refused before a run starts).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from benchmark.cli import main

BOMB = ('a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n")
SWEEP = "seeds: [0]\nvariants: [nsgan]\ndatasets: [ring8]\niterations: 2\n"
SEARCH = SWEEP + "search: {trials: 2, spaces: {default: {lr_g: {log_uniform: [1.0e-4, 1.0e-3]}}}}\n"


def put(t: Path, name: str, content: str | bytes) -> str:
    p = t / name
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    return str(p)


def run(t, *args):
    return ["run", "--variant", "nsgan", "--iterations", "2", "--results-dir", str(t / "results"), *args]


def cfg(t, text, name="c.yaml"):
    return run(t, "--config", put(t, name, text))


def sweep(t, text, *args, name="s.yaml"):
    return ["sweep", put(t, name, text), "--results-dir", str(t / "results"), *args]


def check(t, text, name="th.yaml"):
    put(t, "results/runs/nsgan-ring8-s0-x.json", json.dumps({
        "run_id": "nsgan-ring8-s0-x", "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "completed",
        "metrics": {"modes_covered": 8.0}, "config": {}, "finished_at": "2026-01-01T00:00:00"}))
    return ["check", "--thresholds", put(t, name, text), "--results-dir", str(t / "results")]


def failed_search(t):
    """A search whose every run failed, and a good recipes file that must survive ``tune``."""
    for trial in (0, 1):
        rid = f"nsgan-ring8-s0-t{trial}"
        put(t, f"results/runs/{rid}.json", json.dumps({
            "run_id": rid, "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "failed", "metrics": {},
            "group": "s", "config": {"variant": "nsgan", "lr_g": 1e-3 * (trial + 1)},
            "trial": {"sweep": "s", "index": trial, "params": {}}, "finished_at": "2026-01-01T00:00:00"}))
    good = put(t, "recipes.yaml", "nsgan:\n  ring8:\n    options: {lr_g: 0.002}\n    provenance: {sweep: old}\n")
    return ["tune", put(t, "s.yaml", SEARCH), "--results-dir", str(t / "results"), "--recipes", good]


def images(t, n=3):
    from PIL import Image

    for i in range(n):
        (t / "imgs").mkdir(exist_ok=True)
        Image.new("RGB", (64, 64), (i, i, i)).save(t / "imgs" / f"{i}.png")
    return ["evaluate", "--images", str(t / "imgs"), "--reference", "digits", "--metrics", "domain_fd",
            "--json", str(t / "scores.json")]


# (case id, argv builder(tmp_path), fragments the one error line must contain)
CASES = [
    # ------------------------------------------------------------------ configs: shapes, YAML, encodings, sizes
    ("config alias bomb in a string option", lambda t: cfg(t, BOMB + "project: *g\n"), ["c.yaml", "expands to more"]),
    ("config alias bomb in a number option", lambda t: cfg(t, BOMB + "lr_g: *g\n"), ["c.yaml", "expands to more"]),
    ("config recursive alias", lambda t: cfg(t, "project: &a [*a]\n"), ["c.yaml"]),
    ("config nested 5000 deep", lambda t: cfg(t, "project: " + "[" * 5000 + "]" * 5000 + "\n"),
     ["c.yaml", "nested too deeply"]),
    ("config key given twice", lambda t: cfg(t, "lr_g: 1.0e-3\nlr_g: 2.0e-3\n"), ["c.yaml", "'lr_g' is given twice"]),
    ("config nested key given twice", lambda t: cfg(t, "project: {a: 1, a: 2}\n"), ["c.yaml", "given twice"]),
    ("config list for a number", lambda t: cfg(t, "lr_g: [1.0e-3, 2.0e-3]\n"), ["lr_g=", "is a list", "single"]),
    ("config mapping for a number", lambda t: cfg(t, "checkpoint_every: {a: 1}\n"), ["checkpoint_every=", "is a dict"]),
    ("config mapping for a string", lambda t: cfg(t, "project: {a: 1}\n"), ["project=", "is a dict"]),
    ("config list for a bool", lambda t: cfg(t, "deterministic: [true]\n"), ["deterministic=", "is a list"]),
    ("config list for a choice", lambda t: cfg(t, "wandb: [offline]\n"), ["wandb=", "is a list"]),
    ("config date for a number", lambda t: cfg(t, "lr_g: 2026-01-01\n"), ["lr_g=", "is a date"]),
    ("config non-string key", lambda t: cfg(t, "1: 2\n"), ["c.yaml", "key '1' is not text"]),
    ("config null key", lambda t: cfg(t, "~: 2\n"), ["c.yaml", "is not text"]),
    ("config top level a list", lambda t: cfg(t, "- lr_g\n"), ["c.yaml", "must hold a mapping"]),
    ("config float for an int", lambda t: cfg(t, "checkpoint_every: 2.5\n"), ["checkpoint_every=2.5", "not a valid int"]),
    ("config infinity for an int", lambda t: cfg(t, "checkpoint_every: .inf\n"),
     ["checkpoint_every=inf", "not a valid int"]),
    ("config not UTF-8", lambda t: cfg(t, b"project: caf\xe9\n"), ["c.yaml", "not UTF-8", "save it as UTF-8"]),
    ("config is a directory", lambda t: run(t, "--config", str(t)), ["is a directory", "YAML file"]),
    ("config missing", lambda t: run(t, "--config", str(t / "nope.yaml")), ["nope.yaml", "does not exist"]),
    ("config over 1 MiB", lambda t: cfg(t, "# " + "x" * (1 << 20) + "\nlr_g: 1.0e-3\n"), ["c.yaml", "byte limit"]),
    ("config python tag", lambda t: cfg(t, "project: !!python/object/apply:os.system ['touch pwned']\n"),
     ["c.yaml", "not valid YAML"]),
    ("save_samples absurd", lambda t: run(t, "--save-samples", "1000000000"), ["save_samples=1000000000", "too many"]),
    ("eval_samples absurd", lambda t: run(t, "--eval-samples", "100000000"), ["eval_samples=100000000", "too many"]),
    ("save_samples over the limit for images", lambda t: run(t, "--data", "digits", "--save-samples", "2000000"),
     ["save_samples=2000000", "too many", "--save-samples"]),
    # ------------------------------------------------------------------ sweeps
    ("sweep grid of 10^7 runs (dry run)",
     lambda t: sweep(t, SWEEP + "grid: {lr_g: %s, lr_d: %s, beta1: %s}\n" % (
         [1e-4 * (i + 1) for i in range(100)], [1e-4 * (i + 1) for i in range(100)],
         [i / 1000 for i in range(1000)]), "--dry-run"), ["10,000,000 runs", "split it"]),
    ("sweep trials 10^9", lambda t: sweep(t, SWEEP + "search: {trials: 1000000000, spaces: {default: "
                                             "{lr_g: {log_uniform: [1.0e-4, 1.0e-3]}}}}\n", "--dry-run"),
     ["search.trials", "at most 10,000"]),
    ("sweep trials x seeds over the limit", lambda t: sweep(t, SWEEP.replace("[0]", "[0, 1, 2]") +
                                                            "search: {trials: 5000, spaces: {default: {lr_g: "
                                                            "{log_uniform: [1.0e-4, 1.0e-3]}}}}\n", "--dry-run"),
     ["15,000 runs"]),
    ("sweep unknown variant with search", lambda t: sweep(t, SEARCH.replace("[nsgan]", "[nsgan, nosuchgan]")),
     ["unknown variant 'nosuchgan'", "choose one of"]),
    ("sweep variant a mapping", lambda t: sweep(t, SWEEP.replace("[nsgan]", "[{nsgan: 1}]")), ["unknown variant"]),
    ("sweep dataset a number", lambda t: sweep(t, SWEEP.replace("[ring8]", "[8]")), ["unknown dataset '8'"]),
    ("sweep variants a string", lambda t: sweep(t, SWEEP.replace("[nsgan]", "nsgan")),
     ["'variants' must be a non-empty list"]),
    ("sweep grid a list", lambda t: sweep(t, SWEEP + "grid: [1, 2]\n"), ["'grid' must be a mapping"]),
    ("sweep grid of lists", lambda t: sweep(t, SWEEP + "grid: {lr_g: [[1, 2]]}\n"), ["lr_g=", "is a list"]),
    ("sweep grid key a number", lambda t: sweep(t, SWEEP + "grid: {1: [2]}\n"), ["grid key '1'"]),
    ("sweep options a list", lambda t: sweep(t, SWEEP + "options: [1]\n"), ["'options' must be a mapping"]),
    ("sweep seeds of lists", lambda t: sweep(t, SWEEP.replace("[0]", "[[0]]")), ["seed=", "is a list"]),
    ("sweep dataset_options a list", lambda t: sweep(t, SWEEP + "dataset_options: {ring8: [1]}\n"),
     ["dataset_options.ring8 must be a mapping"]),
    ("sweep alias bomb", lambda t: sweep(t, BOMB + SWEEP + "project: *g\n"), ["s.yaml", "expands to more"]),
    ("sweep key given twice", lambda t: sweep(t, SWEEP + "seeds: [1]\n"), ["s.yaml", "'seeds' is given twice"]),
    ("sweep not UTF-8", lambda t: sweep(t, SWEEP.encode() + b"name: \xff\n"), ["s.yaml", "not UTF-8"]),
    ("sweep a directory", lambda t: ["sweep", str(t)], ["is a directory"]),
    ("export-wandb onto the sweep file itself",
     lambda t: sweep(t, SWEEP, "--export-wandb", str(t / "s.yaml")), ["--export-wandb", "exists", "never overwritten"]),
    ("export-wandb onto an existing directory",
     lambda t: (t / "out").mkdir() or sweep(t, SWEEP, "--export-wandb", str(t / "out")), ["exists (a directory)"]),
    ("export-wandb of a search onto a file",
     lambda t: sweep(t, SEARCH, "--export-wandb", put(t, "taken.yaml", "x: 1\n")), ["not an empty directory"]),
    # ------------------------------------------------------------------ thresholds
    ("thresholds empty cell", lambda t: check(t, "nsgan: {ring8: {}}\n"), ["nsgan/ring8", "empty cell"]),
    ("thresholds empty variant", lambda t: check(t, "nsgan: {}\n"), ["nsgan", "empty entry"]),
    ("thresholds infinite bound", lambda t: check(t, "nsgan: {ring8: {modes_covered: '>= 1e999'}}\n"),
     ["modes_covered", "not a finite number"]),
    ("thresholds bound inf", lambda t: check(t, "nsgan: {ring8: {modes_covered: '>= inf'}}\n"), ["must look like"]),
    ("thresholds bound nan", lambda t: check(t, "nsgan: {ring8: {modes_covered: '<= nan'}}\n"), ["must look like"]),
    ("thresholds key twice", lambda t: check(t, "nsgan: {ring8: {modes_covered: '>= 1'}}\nnsgan: {}\n"),
     ["th.yaml", "given twice"]),
    ("thresholds variant a number", lambda t: check(t, "7: {ring8: {modes_covered: '>= 1'}}\n"),
     ["unknown variant '7'"]),
    ("thresholds not UTF-8", lambda t: check(t, b"nsgan: \xff\n"), ["th.yaml", "not UTF-8"]),
    ("thresholds alias bomb", lambda t: check(t, BOMB + "nsgan: *g\n"), ["th.yaml", "expands to more"]),
    # ------------------------------------------------------------------ tune, report, evaluate
    ("tune on a search whose every run failed", failed_search, ["no trial of sweep 's'", "left unchanged"]),
    ("report with report.html a directory",
     lambda t: (check(t, "x: 1\n"), (t / "results" / "report.html").mkdir(),
                put(t, "results/summary.md", "old summary\n"))[0][:0] + ["report", "--results-dir", str(t / "results")],
     ["report.html exists and is not a file"]),
    ("evaluate images over the memory limit", images, ["3 images", "64x64", "GiB limit", "fewer or smaller"]),
]


def snapshot(root: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in root.rglob("*")}


@pytest.mark.parametrize("case, argv, fragments", CASES, ids=[c[0] for c in CASES])
def test_hostile_input_exit_2_one_error_line_nothing_written(case, argv, fragments, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GANBENCH_MAX_IMAGE_BYTES", "100000")     # 3 RGB 64x64 images: 5 x 36,864 bytes
    monkeypatch.chdir(tmp_path)
    args = argv(tmp_path)
    before = snapshot(tmp_path)
    code = main(args)
    out = capsys.readouterr()
    assert code == 2, (out.out[-2000:], out.err[-2000:])
    lines = out.err.splitlines()
    assert len([x for x in lines if x.startswith("error: ")]) == 1 and lines[-1].startswith("error: "), out.err
    assert "Traceback" not in out.err
    for fragment in fragments:
        assert fragment in lines[-1], (fragment, lines[-1])
    print(f"{case}: {lines[-1]}", file=sys.__stdout__)
    assert snapshot(tmp_path) == before                      # nothing written, nothing changed


def test_enough_cases():
    assert len(CASES) >= 40


# ------------------------------------------------------------------ safe behaviour (not exit 2)
BAD_FIELDS = [("no dataset", "dataset", None), ("metrics a string", "metrics", "fid=3"),
              ("a metric a string", "metrics", {"modes_covered": "8"}), ("seed a list", "seed", [0, 1]),
              ("finished_at null", "finished_at", None), ("run_id a path", "run_id", "../../x"),
              ("config a list", "config", [1]), ("status a number", "status", 3)]


def test_report_and_check_skip_malformed_records_with_one_warning_each(tmp_path, capsys):
    good = {"run_id": "nsgan-ring8-s0-x", "variant": "nsgan", "dataset": "ring8", "seed": 0, "status": "completed",
            "steps": 2, "metrics": {"modes_covered": 8.0}, "config": {}, "finished_at": "2026-01-01T00:00:00"}
    put(tmp_path, "results/runs/nsgan-ring8-s0-x.json", json.dumps(good))
    for i, (_, key, value) in enumerate(BAD_FIELDS):
        bad = {**good, "run_id": f"bad{i}", "seed": 1}
        if key == "dataset":
            del bad["dataset"]
        else:
            bad[key] = value
        put(tmp_path, f"results/runs/bad{i}.json", json.dumps(bad))
    put(tmp_path, "th.yaml", "nsgan: {ring8: {modes_covered: '>= 7'}}\n")
    res = str(tmp_path / "results")
    assert main(["check", "--thresholds", str(tmp_path / "th.yaml"), "--results-dir", res]) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == len(BAD_FIELDS) and all(x.startswith("warning: skipping run file") for x in err), err
    assert main(["report", "--results-dir", res]) == 0
    out = capsys.readouterr()
    assert len(out.err.splitlines()) == len(BAD_FIELDS) and "Traceback" not in out.err


def test_tune_leaves_out_a_trial_with_missing_seeds(tmp_path, capsys):
    """Trial 1 has one lucky seed of three; trial 0 all three: trial 0 wins, trial 1 is named in a warning."""
    for trial, seeds, modes in ((0, (0, 1, 2), 7.0), (1, (0,), 8.0)):
        for seed in seeds:
            rid = f"nsgan-ring8-s{seed}-t{trial}"
            put(tmp_path, f"results/runs/{rid}.json", json.dumps({
                "run_id": rid, "variant": "nsgan", "dataset": "ring8", "seed": seed, "status": "completed",
                "metrics": {"mmd": 0.1 - modes / 100, "modes_covered": modes, "high_quality": 50.0, "reverse_kl": 0.1},
                "group": "s",
                "config": {"variant": "nsgan", "lr_g": 1e-3 * (trial + 1)},
                "trial": {"sweep": "s", "index": trial, "params": {"lr_g": 1e-3 * (trial + 1)}}}))
    sw = put(tmp_path, "s.yaml", SEARCH.replace("[0]", "[0, 1, 2]"))
    recipes = tmp_path / "recipes.yaml"
    assert main(["tune", sw, "--results-dir", str(tmp_path / "results"), "--recipes", str(recipes)]) == 0
    err = capsys.readouterr().err
    assert "trial 1 has records for 1 seed(s), its rivals for 3" in err
    assert "trial: 0" in recipes.read_text() and "lr_g: 0.001" in recipes.read_text()


def test_sweep_whose_every_run_failed_exits_1(tmp_path, capsys, monkeypatch):
    from benchmark.train import sweep as S

    def fail(run, callbacks=None):
        return {"status": "failed", "wall_time_s": 0.0, "run_id": run.run_id}

    monkeypatch.setattr(S, "run_locked", fail)
    assert main(sweep(tmp_path, SWEEP.replace("[0]", "[0, 1]"), "--jobs", "1")) == 1
    assert "every run it trained (2) failed" in capsys.readouterr().err


def test_utf8_config_reads_under_an_ascii_locale(tmp_path):
    """Files are decoded as UTF-8 whatever the locale (C/POSIX used to fail without naming the file)."""
    import os
    import subprocess

    put(tmp_path, "c.yaml", "project: café\n")
    env = {**os.environ, "LC_ALL": "C", "LANG": "C", "PYTHONUTF8": "0", "PYTHONIOENCODING": "ascii:backslashreplace"}
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--variant", "nsgan", "--config",
                          str(tmp_path / "c.yaml"), "--print-config"], cwd=Path(__file__).resolve().parents[1], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    (line,) = [x for x in out.stdout.splitlines() if x.startswith("project:")]
    assert "caf" in line and "Traceback" not in out.stderr


def test_evaluate_refuses_huge_images_from_their_headers(tmp_path, capsys, monkeypatch):
    """12 blank 13000x13000 PNGs (small on disk) would need ~30 GB decoded: refused from the headers alone,
    before any tensor is allocated or pixel decoded."""
    import shutil

    from PIL import Image

    from benchmark.score import folder

    monkeypatch.setenv("GANBENCH_MAX_IMAGE_BYTES", str(8 << 30))
    (tmp_path / "imgs").mkdir()
    Image.new("P", (13000, 13000)).save(tmp_path / "imgs" / "0.png", compress_level=1)
    for i in range(1, 12):
        shutil.copy(tmp_path / "imgs" / "0.png", tmp_path / "imgs" / f"{i}.png")
    monkeypatch.setattr(folder.torch, "empty", lambda *a, **k: pytest.fail("allocated before the size check"))
    assert main(["evaluate", "--images", str(tmp_path / "imgs"), "--reference", "digits", "--metrics",
                 "domain_fd"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "12 images" in err[0] and "13000x13000" in err[0] and "GiB limit" in err[0], err
