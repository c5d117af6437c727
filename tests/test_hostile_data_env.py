"""Issue 27, "data read wrongly or failing late" and "environment and signals": a table of hostile cases.

Each row is one thing a hostile user, a damaged disk or a broken environment can hand GANBench, with what must
happen: 16-bit PNGs scaled (not clipped), IDX files whose counts disagree refused naming both, an image Pillow
refuses named, a corrupt cache rebuilt with one warning, a checkpoint whose tensors do not fit passed over or
refused naming it, an unusable cache directory or ``WANDB_DIR`` found before training, SIGHUP recorded like
SIGTERM, partial checkpoint writes cleaned up, the domain classifier trained with gradients on even from inside
``torch.no_grad()``. The subprocess cases (a SIGHUP'd run, Ctrl-C on a parallel sweep) are in
``tests/train/test_interrupt.py`` and ``tests/train/test_sweep_ctrl_c.py``.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import zlib
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.errors import UsageError
from benchmark.io import RunLock
from benchmark.score import domain as dom
from benchmark.score import fidelity as fm
from benchmark.score.folder import BadImageError, read_images
from benchmark.score.inception import check_cache_dir
from benchmark.train import checkpoint as C
from benchmark.train import tracking
from benchmark.train.interrupt import STATE, catch_signals
from datamodules import DigitsDataModule, MNISTDataModule
from datamodules.image_folder import ImageFolderDataModule, UnreadableImageError
from datamodules.stacked_mnist import StackedMNISTDataModule
from datamodules.vision import DatasetMissingError
from tests.datamodules.fixtures_vision import mnist_like_digits, write_idx, write_mnist

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.usefixtures("one_thread")


# ------------------------------------------------------------------------------------------------ helpers
def png16(path: Path, values: np.ndarray) -> Path:
    """A 16-bit PNG written by hand (the PNG spec, not Pillow): grayscale (H, W) or RGB (H, W, 3) ``uint16``."""
    h, w = values.shape[:2]
    color = 2 if values.ndim == 3 else 0
    rows = b"".join(b"\x00" + values[i].astype(">u2").tobytes() for i in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, color, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    return path


def mid_grey_noise(seed: int = 0, shape=(8, 8)) -> np.ndarray:
    """16-bit noise around 32768 (mean 128 once scaled to 8 bits); every value > 255."""
    return np.random.default_rng(seed).integers(30000, 35536, size=shape).astype(np.uint16)


class FakeEmbedder:
    """What :func:`benchmark.score.fidelity.reference_features` needs of an embedder, without Inception: 8 pixels per image."""

    features = (fm.POOL,)

    def __init__(self) -> None:
        self.weights = SimpleNamespace(sha256="0" * 64)
        self.num_embedded = 0

    def __call__(self, images):
        self.num_embedded += images.shape[0]
        return {fm.POOL: images.flatten(1)[:, :8].float()}


# ---------------------------------------------------------------------------------------------- 16-bit PNG
def case_16bit_gray_mid_grey_is_128_not_white(tmp_path, **_):
    png16(tmp_path / "a.png", mid_grey_noise())
    x = read_images(tmp_path).images
    assert x.shape == (1, 1, 8, 8) and 120 <= float(x.float().mean()) <= 136, x.float().mean()


def case_16bit_gray_exact_scaling(tmp_path, **_):
    v = np.array([[0, 257, 32768, 65535]], dtype=np.uint16)
    png16(tmp_path / "a.png", v)
    assert read_images(tmp_path).images.flatten().tolist() == [0, 1, 128, 255]


def case_16bit_gray_image_folder_one_channel(tmp_path, **_):
    png16(tmp_path / "imgs" / "a.png", mid_grey_noise(1))
    dm = ImageFolderDataModule(path=str(tmp_path / "imgs"), resolution=8, channels=1)
    dm.setup()
    assert 120 <= float(dm.train_x.float().mean()) <= 136


def case_16bit_gray_image_folder_three_channels(tmp_path, **_):
    png16(tmp_path / "imgs" / "a.png", np.full((8, 8), 65535 // 4, dtype=np.uint16))
    dm = ImageFolderDataModule(path=str(tmp_path / "imgs"), resolution=8, channels=3)
    dm.setup()
    assert dm.train_x.shape == (1, 3, 8, 8) and set(dm.train_x.flatten().tolist()) == {64}


def case_16bit_rgb_keeps_high_bytes(tmp_path, **_):
    v = np.random.default_rng(2).integers(0, 65536, size=(4, 4, 3)).astype(np.uint16)
    png16(tmp_path / "a.png", v)
    x = read_images(tmp_path).images
    assert torch.equal(x[0], torch.from_numpy((v >> 8).astype(np.uint8)).permute(2, 0, 1))


def case_16bit_and_8bit_gray_in_one_folder_agree(tmp_path, **_):
    png16(tmp_path / "a16.png", np.full((4, 4), 128 * 257, dtype=np.uint16))
    Image.fromarray(np.full((4, 4), 128, dtype=np.uint8), mode="L").save(tmp_path / "b8.png")
    x = read_images(tmp_path).images
    assert x.shape[1] == 1 and set(x.flatten().tolist()) == {128}


# ------------------------------------------------------------------------------------------------- MNIST
def _mnist_with_counts(root: Path, prefix: str, n_images: int, n_labels: int) -> None:
    write_mnist(root)
    x, _ = mnist_like_digits(n_images)
    _, y = mnist_like_digits(n_labels)
    raw = root / "MNIST" / "raw"
    write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
    write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)


def case_mnist_200_images_10_labels_refused_naming_both(tmp_path, **_):
    _mnist_with_counts(tmp_path, "train", 200, 10)
    with pytest.raises(DatasetMissingError) as e:
        MNISTDataModule(root=str(tmp_path)).setup()
    msg = str(e.value)
    for part in ("train-images-idx3-ubyte", "200 images", "train-labels-idx1-ubyte", "10 labels"):
        assert part in msg, msg


def case_mnist_more_labels_than_images_refused(tmp_path, **_):
    _mnist_with_counts(tmp_path, "train", 10, 64)
    with pytest.raises(DatasetMissingError, match="holds 10 images but .* holds 64 labels"):
        MNISTDataModule(root=str(tmp_path)).setup()


def case_mnist_test_split_counts_checked(tmp_path, **_):
    _mnist_with_counts(tmp_path, "t10k", 32, 5)
    dm = MNISTDataModule(root=str(tmp_path), reference_split="test")
    dm.setup()                                            # the training split is fine
    with pytest.raises(DatasetMissingError, match="t10k-images-idx3-ubyte holds 32 images"):
        dm.reference(8)


def case_stacked_mnist_over_mismatched_files_refused(tmp_path, **_):
    _mnist_with_counts(tmp_path, "train", 64, 7)
    with pytest.raises(DatasetMissingError, match="holds 7 labels"):
        StackedMNISTDataModule(root=str(tmp_path), num_samples=16).setup()


# ------------------------------------------------------------------------------------- unreadable images
def _folder_with(tmp_path: Path, name: str, data: bytes) -> Path:
    d = tmp_path / "imgs"
    d.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.zeros((8, 8, 3), dtype=np.uint8)).save(d / "good.png")
    (d / name).write_bytes(data)
    return d / name


def _image_folder_names_the_file(tmp_path, name, data):
    bad = _folder_with(tmp_path, name, data)
    dm = ImageFolderDataModule(path=str(bad.parent), resolution=8, channels=3)
    with pytest.raises(UnreadableImageError) as e:
        dm.setup()
    assert str(bad) in str(e.value) and "fix or remove it" in str(e.value)


def case_image_folder_truncated_png_named(tmp_path, **_):
    ok = tmp_path / "ok.png"
    Image.fromarray(np.full((16, 16, 3), 9, dtype=np.uint8)).save(ok)
    _image_folder_names_the_file(tmp_path, "cut.png", ok.read_bytes()[:60])


def case_image_folder_text_file_named(tmp_path, **_):
    _image_folder_names_the_file(tmp_path, "notes.jpg", b"just some text, not a JPEG")


def case_image_folder_empty_file_named(tmp_path, **_):
    _image_folder_names_the_file(tmp_path, "empty.png", b"")


def case_evaluate_reader_names_a_bad_16bit_file(tmp_path, **_):
    good = png16(tmp_path / "a.png", mid_grey_noise())
    (tmp_path / "b.png").write_bytes(good.read_bytes()[:70])
    with pytest.raises(BadImageError, match="b.png"):
        read_images(tmp_path)


# ------------------------------------------------------------------------------------------------ caches
def _digits():
    dm = DigitsDataModule()
    dm.setup()
    return dm.train_x[:400], dm.train_y[:400]


def _domain_cache_rebuilt(tmp_path, capsys, spoil):
    x, y = _digits()
    _, info = dom.cached_classifier("digits", x, y, 10, root=tmp_path, max_steps=15)
    path = Path(info["cache_path"])
    spoil(path)
    capsys.readouterr()
    model, info2 = dom.cached_classifier("digits", x, y, 10, root=tmp_path, max_steps=15)
    err = capsys.readouterr().err
    assert info2["cache_hit"] is False and err.count("warning: domain-classifier cache") == 1, err
    assert str(path) in err and "retraining" in err
    _, info3 = dom.cached_classifier("digits", x, y, 10, root=tmp_path, max_steps=15)
    assert info3["cache_hit"] is True                   # the rebuilt file is good
    assert dom.predict(model, x[:4]).shape == (4, 10)


def case_domain_cache_garbage_bytes(tmp_path, capsys, **_):
    _domain_cache_rebuilt(tmp_path, capsys, lambda p: p.write_bytes(b"\x00garbage" * 10))


def case_domain_cache_truncated(tmp_path, capsys, **_):
    _domain_cache_rebuilt(tmp_path, capsys, lambda p: p.write_bytes(p.read_bytes()[:200]))


def case_domain_cache_wrong_shapes(tmp_path, capsys, **_):
    def spoil(p):
        blob = torch.load(p, weights_only=True)
        blob["state_dict"]["head.weight"] = torch.zeros(3, 3)
        torch.save(blob, p)
    _domain_cache_rebuilt(tmp_path, capsys, spoil)


def case_domain_cache_not_a_mapping(tmp_path, capsys, **_):
    _domain_cache_rebuilt(tmp_path, capsys, lambda p: torch.save([1, 2, 3], p))


def case_domain_cache_nan_weights(tmp_path, capsys, **_):
    def spoil(p):
        blob = torch.load(p, weights_only=True)
        blob["state_dict"]["head.bias"] = torch.full_like(blob["state_dict"]["head.bias"], float("nan"))
        torch.save(blob, p)
    _domain_cache_rebuilt(tmp_path, capsys, spoil)


def _features_cache_rebuilt(tmp_path, capsys, spoil):
    dm = DigitsDataModule()
    emb = FakeEmbedder()
    feats, info = fm.reference_features(dm, emb, 50, root=tmp_path)
    path = Path(info["cache_path"])
    spoil(path)
    capsys.readouterr()
    again, info2 = fm.reference_features(dm, emb, 50, root=tmp_path)
    err = capsys.readouterr().err
    assert info2["cache_hit"] is False and emb.num_embedded == 100, info2
    assert err.count("warning: features cache") == 1 and str(path) in err, err
    assert torch.equal(again[fm.POOL], feats[fm.POOL])
    _, info3 = fm.reference_features(dm, emb, 50, root=tmp_path)
    assert info3["cache_hit"] is True and emb.num_embedded == 100


def case_features_cache_garbage(tmp_path, capsys, **_):
    _features_cache_rebuilt(tmp_path, capsys, lambda p: p.write_bytes(b"PK\x03\x04 not a zip"))


def case_features_cache_wrong_row_count(tmp_path, capsys, **_):
    _features_cache_rebuilt(tmp_path, capsys, lambda p: torch.save({fm.POOL: torch.zeros(7, 8)}, p))


def case_features_cache_missing_layer(tmp_path, capsys, **_):
    _features_cache_rebuilt(tmp_path, capsys, lambda p: torch.save({"other": torch.zeros(50, 8)}, p))


def case_features_cache_non_finite(tmp_path, capsys, **_):
    _features_cache_rebuilt(tmp_path, capsys, lambda p: torch.save({fm.POOL: torch.full((50, 8), float("inf"))}, p))


def case_corrupt_cache_warns_once_per_file(tmp_path, capsys, **_):
    dm, emb = DigitsDataModule(), FakeEmbedder()
    _, info = fm.reference_features(dm, emb, 20, root=tmp_path)
    for _ in range(3):                                     # damaged again and again in one process (a sweep)
        Path(info["cache_path"]).write_bytes(b"bad")
        fm.reference_features(dm, emb, 20, root=tmp_path)
    assert capsys.readouterr().err.count("warning: features cache") == 1


# ------------------------------------------------------------------------------ the domain classifier's grad
def case_domain_classifier_trains_inside_no_grad(tmp_path, **_):
    x, y = _digits()
    with torch.no_grad():                                  # what an in-training evaluation runs under
        model, info = dom.cached_classifier("digits", x, y, 10, root=tmp_path, max_steps=60)
    assert info["cache_hit"] is False and info["val_accuracy"] > 0.3, info     # learnt (chance is 0.1)


def case_domain_metrics_prepare_builds_the_classifier_before_training(tmp_path, **_):
    group = dom.DomainMetrics(cache_root=str(tmp_path))
    assert not list(tmp_path.rglob("*.pt"))
    with torch.no_grad():
        group.prepare(DigitsDataModule())
    assert len(list((tmp_path / "domain").glob("digits-*.pt"))) == 1


# ------------------------------------------------------------------------------------------- checkpoints
def _net():
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


def _write_ckpt(directory: Path, it: int, state: dict, config: dict) -> Path:
    path = C.checkpoint_path(directory, it)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state, "ganbench_run": {"config": config, "rng": []}, "ganbench": {"iteration": it}},
               path)
    return path


def case_checkpoint_misfit_falls_back_to_the_previous(tmp_path, capsys, **_):
    net, cfg = _net(), {"lr": 1}
    _write_ckpt(tmp_path, 10, net.state_dict(), cfg)
    bad = {**net.state_dict(), "2.weight": torch.zeros(5, 3)}
    newest = _write_ckpt(tmp_path, 20, bad, cfg)
    path, ckpt = C.find_resume(tmp_path, cfg, net)
    err = capsys.readouterr().err
    assert path == C.checkpoint_path(tmp_path, 10) and str(newest) in err and "2.weight (5, 3) vs (2, 3)" in err


def case_checkpoint_misfit_with_no_fitting_one_is_refused_naming_it(tmp_path, **_):
    net, cfg = _net(), {"lr": 1}
    sd = net.state_dict()
    sd.pop("0.bias")
    newest = _write_ckpt(tmp_path, 30, sd, cfg)
    with pytest.raises(UsageError) as e:
        C.find_resume(tmp_path, cfg, net)
    msg = str(e.value)
    assert str(newest) in msg and "missing 0.bias" in msg and "--resume false" in msg and "delete" in msg


def case_checkpoint_unexpected_key_is_a_misfit(tmp_path, **_):
    net = _net()
    assert "unexpected extra" in C.state_dict_misfit({**net.state_dict(), "extra": torch.zeros(1)}, net)
    assert C.state_dict_misfit(net.state_dict(), net) is None
    assert "not tensors" in C.state_dict_misfit({**net.state_dict(), "0.weight": [1, 2]}, net)


def case_run_resumes_past_a_checkpoint_that_does_not_fit_or_names_it(tmp_path, capsys, **_):
    from benchmark.train import run as R

    opts = {"variant": "nsgan", "data": "ring8", "iterations": 20, "checkpoint_every": 10, "fuse_iterations": 1,
            "num_samples": 256, "batch_size": 32, "metrics": "modes_covered", "save_samples": 0, "wandb": "disabled",
            "results_dir": str(tmp_path)}
    first = R.execute(opts)
    assert first["status"] == "completed"
    ckdir = tmp_path / "checkpoints" / first["run_id"]
    newest, older = C.list_checkpoints(ckdir)

    def spoil(path):                                     # same configuration, a tensor of another shape
        ck = torch.load(path, weights_only=True)
        key = next(k for k, v in ck["state_dict"].items() if v.dim() == 2)
        ck["state_dict"][key] = torch.zeros(3, 3)
        torch.save(ck, path)
        return key

    key = spoil(newest)
    capsys.readouterr()
    again = R.execute(opts)                              # falls back to iter 10 and trains the last 10
    err = capsys.readouterr().err
    assert again["status"] == "completed" and again["resumed_at"] == 10 and again["steps"] == 20, again
    assert str(newest) in err and key in err
    for p in C.list_checkpoints(ckdir):
        spoil(p)
    with pytest.raises(UsageError) as e:                 # none fits: refused naming the newest, not a traceback
        R.execute(opts)
    assert str(C.list_checkpoints(ckdir)[0]) in str(e.value) and "--resume false" in str(e.value)


def case_stale_partial_checkpoints_removed_other_files_kept(tmp_path, capsys, **_):
    d, runs = tmp_path / "checkpoints" / "rid", tmp_path / "runs"
    d.mkdir(parents=True)
    stale = [d / ".iter-00000040.ckpt.ab_c1234.tmp", d / ".iter-00000060.ckpt.zzzzzzzz.tmp"]
    keep = [d / "iter-00000020.ckpt", d / "notes.tmp", d / ".other.ckpt.abc.tmp", d / "iter-00000020.ckpt.tmp"]
    for p in stale + keep:
        p.write_bytes(b"x" * 100)
    removed = C.remove_stale_temporaries(d, runs, "rid")
    assert sorted(removed) == sorted(stale) and all(p.exists() for p in keep) and not any(p.exists() for p in stale)
    assert "removed 2 partial checkpoint file(s)" in capsys.readouterr().err


def case_stale_partial_checkpoints_kept_while_another_process_holds_the_lock(tmp_path, **_):
    d, runs = tmp_path / "checkpoints" / "rid", tmp_path / "runs"
    d.mkdir(parents=True)
    tmp = d / ".iter-00000040.ckpt.abcdefgh.tmp"
    tmp.write_bytes(b"being written")
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from benchmark.io import RunLock
        assert RunLock({str(runs)!r}, "rid").acquire()
        print("held", flush=True)
        time.sleep(60)
        """)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        assert RunLock(runs, "rid").held_by_another()
        assert C.remove_stale_temporaries(d, runs, "rid") == [] and tmp.exists()
    finally:
        holder.kill()
        holder.wait()
    assert not RunLock(runs, "rid").held_by_another()          # a dead holder holds nothing
    assert C.remove_stale_temporaries(d, runs, "rid") == [tmp] and not tmp.exists()


def case_own_lock_does_not_block_cleanup(tmp_path, **_):
    d, runs = tmp_path / "checkpoints" / "rid", tmp_path / "runs"
    d.mkdir(parents=True)
    (d / ".iter-00000001.ckpt.q1w2e3r4.tmp").write_bytes(b"x")
    lock = RunLock(runs, "rid")
    assert lock.acquire()
    try:                                                     # the CLI holds it while the run starts
        assert len(C.remove_stale_temporaries(d, runs, "rid")) == 1
    finally:
        lock.release()


# ------------------------------------------------------------------------------------------ cache directory
def case_ganbench_cache_is_a_file(tmp_path, monkeypatch, **_):
    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("GANBENCH_CACHE", str(f))
    with pytest.raises(UsageError, match=r"from \$GANBENCH_CACHE .*set GANBENCH_CACHE to a writable folder"):
        check_cache_dir()


def case_ganbench_cache_below_a_file(tmp_path, monkeypatch, **_):
    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("GANBENCH_CACHE", str(f / "sub"))
    with pytest.raises(UsageError, match="GANBENCH_CACHE"):
        check_cache_dir()


def case_unusable_home_without_cache_variable(tmp_path, monkeypatch, **_):
    f = tmp_path / "home-is-a-file"
    f.write_text("x")
    monkeypatch.delenv("GANBENCH_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(f))
    with pytest.raises(UsageError) as e:
        check_cache_dir()
    assert "$HOME" in str(e.value) and str(f) in str(e.value) and "GANBENCH_CACHE" in str(e.value)


def case_unwritable_cache_directory(tmp_path, monkeypatch, **_):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path else real(p, mode))
    with pytest.raises(UsageError, match="not a writable folder"):
        check_cache_dir()


def case_run_with_unusable_cache_fails_before_training(tmp_path, monkeypatch, **_):
    from benchmark.train import run as R

    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("GANBENCH_CACHE", str(f))
    trained = []
    monkeypatch.setattr(R, "fit", lambda run: trained.append(run))
    with pytest.raises(UsageError, match="GANBENCH_CACHE"):
        R.execute({"variant": "nsgan", "data": "digits", "iterations": 2, "metrics": "domain_fd", "save_samples": 0,
                   "wandb": "disabled", "results_dir": str(tmp_path / "results")})
    assert trained == [] and not (tmp_path / "results" / "runs").exists()


def case_run_with_toy_metrics_needs_no_cache(tmp_path, monkeypatch, **_):
    f = tmp_path / "cachefile"
    f.write_text("x")
    monkeypatch.setenv("GANBENCH_CACHE", str(f))
    from benchmark.score import prepare_metrics
    from datamodules import get_datamodule

    prepare_metrics(["modes_covered"], get_datamodule("ring8")())       # nothing to check, nothing raised


# ---------------------------------------------------------------------------------------------- WANDB_DIR
def case_wandb_dir_is_a_file(tmp_path, monkeypatch, capsys, **_):
    f = tmp_path / "wandb-file"
    f.write_text("x")
    monkeypatch.setenv("WANDB_DIR", str(f))
    got = tracking.tracking_dir(str(f), tmp_path / "results")
    err = capsys.readouterr().err
    assert got == str(tmp_path / "results") and err.count("warning:") == 1
    assert f"WANDB_DIR={str(f)!r}" in err and str(tmp_path / "results" / "wandb") in err


def case_wandb_dir_below_a_file(tmp_path, monkeypatch, capsys, **_):
    f = tmp_path / "wandb-file"
    f.write_text("x")
    monkeypatch.setenv("WANDB_DIR", str(f / "sub"))
    assert tracking.tracking_dir(str(f / "sub"), tmp_path / "results") == str(tmp_path / "results")
    assert capsys.readouterr().err.count("warning:") == 1


def case_unwritable_wandb_dir_is_not_silently_tmp(tmp_path, monkeypatch, capsys, **_):
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setenv("WANDB_DIR", str(ro))
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == ro else real(p, mode))
    assert tracking.tracking_dir(str(ro), tmp_path / "results") == str(tmp_path / "results")
    err = capsys.readouterr().err
    assert "not writable" in err and err.count("warning:") == 1


def case_wandb_dir_and_fallbacks_unusable_tracking_off(tmp_path, monkeypatch, capsys, **_):
    f = tmp_path / "wandb-file"
    f.write_text("x")
    monkeypatch.setattr(tracking.tempfile, "gettempdir", lambda: str(f))
    assert tracking.tracking_dir(str(f), f / "results") is None
    assert "training without tracking" in capsys.readouterr().err


def case_usable_wandb_dir_is_kept_silently(tmp_path, capsys, **_):
    assert tracking.tracking_dir(str(tmp_path / "w"), tmp_path / "results") == str(tmp_path / "w")
    assert capsys.readouterr().err == ""


def case_make_logger_offline_with_a_file_as_wandb_dir_logs_elsewhere(tmp_path, monkeypatch, capsys, **_):
    f = tmp_path / "wandb-file"
    f.write_text("x")
    monkeypatch.setenv("WANDB_DIR", str(f))
    monkeypatch.setenv("WANDB_MODE", "offline")
    logger = tracking.make_logger("rid-h", {"variant": "nsgan", "data": "ring8"}, save_dir=str(f),
                                  fallback_dir=tmp_path / "results")
    try:
        assert logger is not None and not logger.disabled
        assert Path(logger.experiment.dir).resolve().is_relative_to((tmp_path / "results" / "wandb").resolve())
    finally:
        tracking.finish(logger)
    assert "W&B logs to" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------------- SIGHUP
def case_sighup_is_caught_like_sigterm(**_):
    # in a child process: without the handler SIGHUP's default action would kill the test runner itself
    code = textwrap.dedent("""
        import os, signal, sys, time
        from benchmark.train.interrupt import STATE, catch_signals
        with catch_signals():
            os.kill(os.getpid(), signal.SIGHUP)
            for _ in range(200):                        # the handler runs between bytecodes
                if STATE.signum:
                    break
                time.sleep(0.01)
        print(STATE.name, STATE.exit_code)
        """)
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0 and out.stdout.split() == ["SIGHUP", "129"], (out.returncode, out.stdout, out.stderr)


CASES = {name[len("case_"):]: fn for name, fn in sorted(globals().items()) if name.startswith("case_")}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_data_and_environment(case, tmp_path, monkeypatch, capsys):
    CASES[case](tmp_path=tmp_path, monkeypatch=monkeypatch, capsys=capsys)


def test_the_table_is_big_enough():
    assert len(CASES) >= 20
