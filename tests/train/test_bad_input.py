"""Bad input: each case prints one ``error:`` line naming the bad value and the valid choices, exits 2 and
writes nothing; YAML is safe-loaded; an API key never reaches results, configs or logs."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmark.cli import main

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


# (case id, argv builder(tmp_path, results_dir), fragments the one error line must contain)
CASES = [
    ("unknown variant", lambda t, r: ["run", "--variant", "nosuchgan", "--results-dir", r],
     ["'nosuchgan'", "choose one of:", "nsgan", "wgan_gp"]),
    ("unknown dataset", lambda t, r: ["run", "--data", "nosuchdata", "--results-dir", r],
     ["'nosuchdata'", "choose one of:", "ring8"]),
    ("unknown metric", lambda t, r: ["run", "--metrics", "fidd", "--results-dir", r],
     ["fidd", "choose from:", "modes_covered"]),
    ("metric the dataset cannot compute: fid on points", lambda t, r: ["run", "--metrics", "fid,modes_covered",
                                                                       "--results-dir", r],
     ["'ring8'", "fid (Inception metrics need images, not points)",
      "supports: high_quality, mmd, modes_covered, modes_covered_strict, reverse_kl"]),
    ("metric the dataset cannot compute: modes on images", lambda t, r: ["run", "--data", "digits", "--metrics",
                                                                         "modes_covered", "--results-dir", r],
     ["'digits'", "modes_covered (mode coverage needs 2-D points", "domain_fd"]),
    ("sweep with a metric a dataset cannot compute", lambda t, r: ["sweep", write(t, "s4.yaml",
                                                                   "seeds: [0]\nvariants: [nsgan]\ndatasets: [ring8, "
                                                                   "digits]\ndataset_options: {digits: {metrics: "
                                                                   "modes_covered}}\n"), "--results-dir", r],
     ["digits", "modes_covered (mode coverage", "supports:"]),
    ("unknown option", lambda t, r: ["run", "--lr-gee", "0.1", "--results-dir", r],
     ["'lr_gee'", "did you mean --lr-g", "options --variant nsgan --data ring8"]),
    ("negative learning rate", lambda t, r: ["run", "--lr-g", "-1", "--results-dir", r], ["lr_g=-1.0", "> 0"]),
    ("n_critic 0", lambda t, r: ["run", "--variant", "wgan", "--n-critic", "0", "--results-dir", r],
     ["n_critic=0", ">= 1"]),
    ("batch larger than dataset", lambda t, r: ["run", "--num-samples", "100", "--batch-size", "500",
                                                "--results-dir", r],
     ["batch_size=500", "'ring8'", "(100 samples)", "1 <= batch_size <= 100"]),
    ("batch larger than a DDP shard", lambda t, r: ["run", "--num-samples", "100", "--batch-size", "64",
                                                    "--accelerator", "cpu", "--devices", "2", "--strategy", "ddp",
                                                    "--results-dir", r],
     ["batch_size=64", "the 50 samples per rank of dataset 'ring8' (100 samples / 2 processes)", "1 <= batch_size <= 50"]),
    ("bad checkpoint name", lambda t, r: ["run", "--name", "../escape", "--results-dir", r],
     ["name='../escape'", "letters, digits"]),
    ("malformed sweep YAML", lambda t, r: ["sweep", write(t, "s.yaml", "variants: [nsgan\n"), "--results-dir", r],
     ["s.yaml", "not valid YAML"]),
    ("sweep with an unknown option", lambda t, r: ["sweep", write(t, "s2.yaml", "seeds: [0]\nvariants: [nsgan]\n"
                                                                     "datasets: [ring8]\nlearning_rate: 0.1\n"),
                                                   "--results-dir", r],
     ["'learning_rate'", "accepted by no run of this sweep", "did you mean lr_g, lr_d"]),
    ("sweep with an unknown variant", lambda t, r: ["sweep", write(t, "s3.yaml", "seeds: [0]\nvariants: [nosuchgan]\n"
                                                                    "datasets: [ring8]\n"), "--results-dir", r],
     ["nosuchgan", "choose one of:"]),
    ("malformed thresholds YAML", lambda t, r: ["check", "--thresholds", write(t, "th.yaml", "nsgan: {ring8: [\n"),
                                                "--results-dir", r],
     ["th.yaml", "not valid YAML"]),
    ("thresholds with an unknown metric", lambda t, r: ["check", "--thresholds",
                                                        write(t, "th2.yaml", "nsgan: {ring8: {modes: '>= 7'}}\n"),
                                                        "--results-dir", r],
     ["unknown metric 'modes'", "choose one of:"]),
    ("thresholds with a metric the dataset cannot compute", lambda t, r: ["check", "--thresholds",
                                                                          write(t, "th3.yaml",
                                                                                "nsgan: {ring8: {fid: '<= 10'}}\n"),
                                                                          "--results-dir", r],
     ["nsgan/ring8/fid", "Inception metrics need images", "supports: high_quality"]),
    # execution options: rejected before set-up (they used to fail at exit 1 and replace a completed record)
    ("bad strategy", lambda t, r: ["run", "--strategy", "dpp", "--results-dir", r],
     ["strategy='dpp'", "choose one of:", "ddp", "ddp_spawn", "fsdp"]),
    ("bad precision", lambda t, r: ["run", "--precision", "17", "--results-dir", r],
     ["precision='17'", "choose one of:", "32-true", "bf16-mixed"]),
    ("bad accelerator", lambda t, r: ["run", "--accelerator", "gpux", "--results-dir", r],
     ["accelerator='gpux'", "choose one of:", "cpu", "auto"]),
    ("devices 0", lambda t, r: ["run", "--devices", "0", "--results-dir", r], ["devices='0'", "positive count"]),
    ("devices not a count", lambda t, r: ["run", "--devices", "two", "--results-dir", r], ["devices='two'", "auto"]),
    ("more devices than the machine has", lambda t, r: ["run", "--accelerator", "cpu", "--devices", "4096",
                                                        "--results-dir", r],
     ["devices='4096'", "this machine has", "use --devices"]),
    ("negative seed", lambda t, r: ["run", "--seed", "-1", "--results-dir", r], ["seed=-1", "0 <= seed"]),
    ("infinite learning rate", lambda t, r: ["run", "--lr-g", "inf", "--results-dir", r],
     ["lr_g='inf'", "finite"]),
    ("nan instance noise", lambda t, r: ["run", "--instance-noise", "nan", "--results-dir", r],
     ["instance_noise='nan'", "finite"]),
    ("unwritable results directory", lambda t, r: ["run", "--results-dir", write(t, "afile", "x")],
     ["afile", "is not writable"]),
]


@pytest.mark.parametrize("case, argv, fragments", CASES, ids=[c[0] for c in CASES])
def test_bad_input_one_error_line_exit_2_nothing_written(case, argv, fragments, tmp_path, capsys):
    results = tmp_path / "results"
    args = argv(tmp_path, str(results))
    before = sorted(p.name for p in tmp_path.iterdir())
    if args[0] == "run" and "--variant" not in args:     # a run names its variant (tests/test_fast_cli.py)
        args = [*args, "--variant", "nsgan"]
    code = main([*args, "--iterations", "2"] if args[0] == "run" else args)
    out = capsys.readouterr()
    assert code == 2, out
    assert out.err.startswith("error: ") and out.err.count("\n") == 1, out.err
    for fragment in fragments:
        assert fragment in out.err, (fragment, out.err)
    print(f"{case}: {out.err.strip()}", file=sys.__stdout__)
    assert sorted(p.name for p in tmp_path.iterdir()) == before       # nothing written
    assert not results.exists()


def test_wandb_online_without_a_key_is_refused_before_anything_is_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    results = tmp_path / "results"
    assert main(["run", "--variant", "nsgan", "--iterations", "2", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "WANDB_API_KEY" in err and "offline" in err
    assert not results.exists()


def test_yaml_is_only_safe_loaded(tmp_path, capsys):
    evil = write(tmp_path, "evil.yaml", "lr_g: !!python/object/apply:os.system ['touch pwned']\n")
    assert main(["run", "--config", evil, "--results-dir", str(tmp_path / "r")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert not (tmp_path / "pwned").exists() and not (ROOT / "pwned").exists()


def test_api_key_never_written(tmp_path):
    """With WANDB_API_KEY in the environment and W&B offline, no file of the run contains the key."""
    key = "secret-xyz-4b1d"
    env = {**os.environ, "WANDB_API_KEY": key, "WANDB_MODE": "offline", "WANDB_DIR": str(tmp_path / "wandb"),
           "WANDB_CACHE_DIR": str(tmp_path / "wandb_cache"), "WANDB_CONFIG_DIR": str(tmp_path / "wandb_config"),
           "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    out = subprocess.run([sys.executable, "-m", "benchmark", "run", "--variant", "nsgan", "--iterations", "4", "--num-samples", "256",
                          "--batch-size", "32", "--metrics", "modes_covered", "--save-samples", "16",
                          "--checkpoint-every", "2", "--results-dir", str(tmp_path / "results")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert key not in out.stdout + out.stderr
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.suffix == ".json" for p in files) and any(p.suffix == ".ckpt" for p in files)
    assert any("wandb" in p.parts[-3:-1] or "wandb" in str(p.relative_to(tmp_path)) for p in files)
    leaked = [p for p in files if key.encode() in p.read_bytes()]
    assert not leaked, leaked
