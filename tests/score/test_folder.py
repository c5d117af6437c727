"""``evaluate`` reads a folder one file at a time (1,100 images under a 256 file-descriptor limit), and an
unreadable image is an error naming the file (exit 2) or, with ``--skip-bad-images``, left out with its count
printed and recorded with the scores."""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.cli import main
from benchmark.score.folder import BadImageError, load_image_folder, read_images

ROOT = Path(__file__).resolve().parents[2]


def write_pngs(folder: Path, n: int, size: int = 8, mode: str = "L", seed: int = 0) -> torch.Tensor:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    arrays = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]
    for i, a in enumerate(arrays):
        Image.fromarray(a).save(folder / f"{i:05d}.png")
    x = torch.from_numpy(np.stack(arrays))
    return x.unsqueeze(1) if mode == "L" else x.permute(0, 3, 1, 2)


def test_1100_images_load_under_a_256_file_descriptor_limit(tmp_path):
    expected = write_pngs(tmp_path / "imgs", 1100)
    code = ("import resource, sys, torch\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))\n"
            "from benchmark.score.folder import load_image_folder\n"
            "x = load_image_folder(sys.argv[1])\n"
            "torch.save(x, sys.argv[2])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "imgs"), str(tmp_path / "x.pt")], cwd=ROOT,
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True, timeout=300,
                         check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert torch.equal(torch.load(tmp_path / "x.pt"), expected)      # every image, in sorted order, lossless


def test_rgb_images_keep_their_channels_and_mixed_sizes_name_the_file(tmp_path):
    expected = write_pngs(tmp_path / "rgb", 5, mode="RGB")
    assert torch.equal(load_image_folder(tmp_path / "rgb"), expected)
    Image.fromarray(np.zeros((9, 9, 3), np.uint8)).save(tmp_path / "rgb" / "zz.png")
    with pytest.raises(ValueError, match=r"zz\.png is 9x9"):
        load_image_folder(tmp_path / "rgb")


def corrupt(folder: Path) -> tuple[Path, Path]:
    """One file of random bytes and one PNG cut in half (its header reads, its pixels do not)."""
    garbage = folder / "00003.png"
    garbage.write_bytes(os.urandom(200))
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)).save(buf, "PNG")
    truncated = folder / "00007.png"
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    return garbage, truncated


def test_a_corrupt_or_truncated_image_is_an_error_naming_it_or_skipped_on_request(tmp_path):
    expected = write_pngs(tmp_path / "imgs", 10)
    garbage, truncated = corrupt(tmp_path / "imgs")
    with pytest.raises(BadImageError, match="00003.png"):
        load_image_folder(tmp_path / "imgs")
    garbage.unlink()
    with pytest.raises(BadImageError, match="00007.png.*--skip-bad-images"):      # fails in the decoding pass
        load_image_folder(tmp_path / "imgs")
    corrupt(tmp_path / "imgs")
    loaded = read_images(tmp_path / "imgs", skip_bad=True)
    assert loaded.skipped == [str(garbage), str(truncated)]
    keep = [i for i in range(10) if i not in (3, 7)]
    assert torch.equal(loaded.images, expected[keep])


def test_evaluate_cli_exit_2_naming_the_file_or_skips_and_records_the_count(tmp_path, capsys):
    from datamodules import DigitsDataModule

    dm = DigitsDataModule()
    dm.setup()
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, img in enumerate(dm.train_x[:40]):
        Image.fromarray(img[0].numpy()).save(folder / f"{i:05d}.png")
    (folder / "00005.png").write_bytes(b"not a png at all")
    args = ["evaluate", "--images", str(folder), "--reference", "digits", "--metrics", "class_coverage",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "--json", str(tmp_path / "a.json")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "00005.png" in err and "--skip-bad-images" in err, err
    assert not (tmp_path / "a.json").exists()
    assert main([*args, "--skip-bad-images", "--json", str(tmp_path / "b.json")]) == 0
    cap = capsys.readouterr()
    assert "skipped 1 unreadable image(s)" in cap.err and "00005.png" in cap.err
    result = json.loads((tmp_path / "b.json").read_text())
    assert result["images"]["count"] == 39 and result["images"]["skipped_unreadable"] == 1
    assert result["images"]["skipped_files"] == [str(folder / "00005.png")]
    assert result["protocols"]["class_coverage"]["images_skipped_unreadable"] == 1
