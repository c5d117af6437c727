"""W&B tracking, read back from the offline run files: nested config, job type and group, the ``iteration``
axis, no inf/NaN, one W&B id per attempt, and tracking failures (online init raising, hanging, no network;
log/finish raising) that never stop a run."""
from __future__ import annotations

import glob
import json
import math
import struct
import threading
import time

import pytest

from benchmark.io import load_runs
from benchmark.train import tracking
from benchmark.train.run import execute
from benchmark.train.sweep import expand

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = {"variant": "nsgan", "data": "ring8", "iterations": 20, "log_every": 10, "hidden": 8, "batch_size": 32,
        "save_samples": 64, "sample_every": 10, "threads": 1}
FAKE_KEY = "x" * 40


def records(path: str):
    """The protobuf ``Record``s of a ``.wandb`` file (W&B's LevelDB-style log: 7-byte file header, 32 KiB blocks
    of chunks ``crc32 | length | type`` with FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4)."""
    from wandb.proto import wandb_internal_pb2 as pb

    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b":W&B"
    pos, block, buf = 7, 32768, b""
    while pos + 7 <= len(data):
        left = block - pos % block
        if left < 7:
            pos += left
            continue
        _, n, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if n == 0 and kind == 0:
            pos += left
            continue
        buf += data[pos + 7:pos + 7 + n]
        pos += 7 + n
        if kind in (1, 4):
            rec = pb.Record()
            rec.ParseFromString(buf)
            buf = b""
            yield rec


def read_offline_run(run_dir: str) -> dict:
    """``{"run": RunRecord, "config": {...}, "history": [rows], "summary": {...}, "metrics": [MetricRecord]}``."""
    (path,) = glob.glob(f"{run_dir}/*.wandb")
    deadline = time.monotonic() + 30          # W&B's service process writes the file after finish() returns
    while not any(r.WhichOneof("record_type") == "exit" for r in records(path)) and time.monotonic() < deadline:
        time.sleep(0.2)
    out: dict = {"config": {}, "history": [], "summary": {}, "metrics": [], "raw_values": []}

    def key(item):
        return "/".join(item.nested_key) if item.nested_key else item.key

    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.run.config.update})
        elif kind == "config":
            out["config"].update({u.key: json.loads(u.value_json) for u in rec.config.update})
        elif kind == "history":
            out["history"].append({key(i): json.loads(i.value_json) for i in rec.history.item})
            out["raw_values"] += [i.value_json for i in rec.history.item]
        elif kind == "summary":
            out["summary"].update({key(u): json.loads(u.value_json) for u in rec.summary.update})
            out["raw_values"] += [u.value_json for u in rec.summary.update]
        elif kind == "metric":
            out["metrics"].append(rec.metric)
    return out


def offline_runs(tmp_path) -> list[str]:
    return sorted(glob.glob(str(tmp_path / "wandb" / "wandb" / "offline-run-*")))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path / "wandb"))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb_config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb_cache"))
    return tmp_path


@pytest.fixture
def online_without_server(offline, monkeypatch):
    """Online mode with a key, towards a closed port: what a machine without network sees."""
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", FAKE_KEY)
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("WANDB_INIT_TIMEOUT", "1")
    return offline


def run_tiny(tmp_path, **extra) -> dict:
    return execute({**TINY, "results_dir": str(tmp_path / "res"), **extra})


def warnings_in(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("warning: W&B")]


def test_a_run_is_nested_grouped_on_the_iteration_axis_and_a_rerun_is_a_second_wandb_run(offline, capsys):
    first = run_tiny(offline, group="mysweep")
    second = run_tiny(offline, group="mysweep")
    assert first["status"] == second["status"] == "completed" and first["run_id"] == second["run_id"]
    assert warnings_in(capsys.readouterr().err) == []
    dirs = offline_runs(offline)
    assert len(dirs) == 2                                 # the re-run did not reuse (and overwrite) the first
    runs = [read_offline_run(d) for d in dirs]
    assert runs[0]["run"].run_id != runs[1]["run"].run_id
    for got in runs:
        run = got["run"]
        assert run.run_id.startswith(first["run_id"] + "-") and len(run.run_id) <= tracking.MAX_ID_LEN
        assert run.display_name == first["run_id"]
        assert run.job_type == "train" and run.run_group == "mysweep"
        cfg = {k: v for k, v in got["config"].items() if k != "_wandb"}
        assert set(cfg) == {"run", "model", "data"}
        assert not any("." in k for section in cfg.values() for k in section)
        assert cfg["run"]["run_id"] == first["run_id"] and cfg["run"]["seed"] == 0
        assert cfg["model"]["hidden"] == 8 and cfg["model"]["lr_g"] == first["config"]["lr_g"]
        assert cfg["model"]["data_shape"] == [2]          # the module's own hyper-parameters, nested too
        assert cfg["data"] == {"name": "ring8", "batch_size": 32,
                               **{k[5:]: v for k, v in first["config"].items() if k.startswith("data.")}}
        # x-axis: `iteration`, with the GAN iterations of the record's history; no Lightning step counter
        assert any(m.glob_name == "*" and m.step_metric == "iteration" for m in got["metrics"])
        train_rows = [row for row in got["history"] if "train/d_loss" in row]
        assert [row["iteration"] for row in train_rows] == [h["iteration"] for h in first["history"]]
        assert not any(k.startswith("trainer/") for row in got["history"] for k in row)
        assert any("samples/_type" in row and row["iteration"] == 10 for row in got["history"])
        # never inf/NaN: ring8's reverse KL of an untrained generator is inf; it is flagged, not logged
        assert not any(v in ("Infinity", "-Infinity", "NaN") for v in got["raw_values"])
        assert got["summary"]["status"] == "completed"
        for k, v in first["metrics"].items():
            if v is None or not math.isfinite(v):
                assert got["summary"][f"final/{k}"] is None and f"nonfinite/final/{k}" in got["summary"]
            else:
                assert got["summary"][f"final/{k}"] == pytest.approx(v)


def test_the_sweep_name_is_the_group_of_its_runs():
    (opts,) = expand({"name": "toy-a", "variants": ["nsgan"], "datasets": ["ring8"], "seeds": [0]})
    assert opts["group"] == "toy-a"


def test_nonfinite_values_are_left_out_and_flagged(offline):
    logger = tracking.make_logger("rid-x", {"variant": "nsgan", "data": "ring8", "seed": 0, "lr_g": 1e-3},
                                  save_dir=str(offline / "wandb"))
    logger.log_metrics({"train/d_loss": float("inf"), "train/g_loss": 0.5, "eval/kl": float("nan")}, step=5)
    logger.log_metrics({"train/d_loss": 1.5, "train/g_loss": float("-inf")}, step=10)
    tracking.log_final(logger, {"fid": float("inf"), "kid": 0.25, "none": None}, None, "completed")
    tracking.finish(logger)
    got = read_offline_run(offline_runs(offline)[0])
    rows = [{k: v for k, v in row.items() if not k.startswith("_")} for row in got["history"]]
    assert rows == [{"train/g_loss": 0.5, "iteration": 5}, {"train/d_loss": 1.5, "iteration": 10}]
    s = got["summary"]
    assert (s["nonfinite/train/d_loss"], s["nonfinite/eval/kl"], s["nonfinite/train/g_loss"]) == (5, 5, 10)
    assert s["final/fid"] is None and s["nonfinite/final/fid"] == "inf" and s["final/kid"] == 0.25
    assert "final/none" not in s
    assert got["config"]["run"] == {"run_id": "rid-x", "variant": "nsgan", "data": "ring8", "seed": 0}
    assert got["config"]["model"] == {"lr_g": 1e-3}


def test_without_a_key_auto_is_offline_and_never_asks_for_a_login(offline, monkeypatch):
    import wandb

    monkeypatch.delenv("WANDB_MODE")
    monkeypatch.setattr(wandb, "login", lambda *a, **k: pytest.fail("wandb.login called"))
    assert tracking.wandb_mode("auto") == "offline"
    logger = tracking.make_logger("rid-y", {"variant": "nsgan", "data": "ring8"}, save_dir=str(offline / "wandb"))
    assert logger.offline and not logger.disabled
    tracking.finish(logger)


def _expect_offline_fallback(tmp_path, capsys, rec):
    assert rec["status"] == "completed", rec.get("error")
    (kept,) = load_runs(tmp_path / "res")
    assert kept["run_id"] == rec["run_id"] and kept["status"] == "completed"
    (warning,) = warnings_in(capsys.readouterr().err)
    assert "online init failed" in warning and "offline" in warning
    (run_dir,) = offline_runs(tmp_path)
    got = read_offline_run(run_dir)
    assert got["summary"]["status"] == "completed"
    assert any("train/d_loss" in row for row in got["history"])


def test_online_init_that_raises_falls_back_to_offline_with_one_warning(online_without_server, capsys,
                                                                         monkeypatch):
    import wandb
    from wandb.errors import CommError

    real_init = wandb.init

    def init(*args, mode=None, **kwargs):
        if mode == "online":
            raise CommError("Run initialization has timed out after 1.0 sec.")
        return real_init(*args, mode=mode, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    _expect_offline_fallback(online_without_server, capsys, run_tiny(online_without_server))


def test_online_init_that_hangs_falls_back_within_the_timeout(online_without_server, capsys, monkeypatch):
    import wandb

    real_init, release = wandb.init, threading.Event()

    def init(*args, mode=None, **kwargs):
        if mode == "online":
            release.wait(60)                      # a wandb.init that ignores its own timeout
            raise RuntimeError("released")
        return real_init(*args, mode=mode, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    t0 = time.perf_counter()
    try:
        rec = run_tiny(online_without_server)
    finally:
        release.set()
    assert time.perf_counter() - t0 < 30           # 1 s timeout (+1 s grace), not the 60 s hang
    _expect_offline_fallback(online_without_server, capsys, rec)


def test_online_without_network_falls_back_to_offline(online_without_server, capsys):
    """The real wandb.init against a closed port (no monkeypatching): W&B's own 1 s timeout, then offline."""
    _expect_offline_fallback(online_without_server, capsys, run_tiny(online_without_server))


@pytest.mark.parametrize("method", ["log", "finish"])
def test_a_failing_wandb_call_turns_tracking_off_and_the_run_completes(offline, capsys, monkeypatch, method):
    from wandb.sdk.wandb_run import Run

    calls = []
    real = getattr(Run, method)

    def broken(self, *args, **kwargs):
        calls.append(method)
        if method == "finish":
            real(self, *args, **kwargs)          # the run's files are closed, then the error
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Run, method, broken)
    rec = run_tiny(offline)
    assert rec["status"] == "completed", rec.get("error")
    (kept,) = load_runs(offline / "res")
    assert kept["status"] == "completed" and kept["metrics"] == rec["metrics"]
    (warning,) = warnings_in(capsys.readouterr().err)
    assert f"W&B {method} failed" in warning and "No space left on device" in warning
    assert calls == [method]                     # off after the first failure: no second call
