"""The textbook-DCGAN reference script: its data are valid MNIST IDX files, its networks are written apart from
``models/`` and are Radford et al.'s, and the whole measurement runs end to end (a few iterations)."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import numpy as np
import torch
from torch import nn

from benchmark.perf import dcgan_reference as ref


def test_digits_are_written_as_mnist_idx_files_the_datamodule_reads(tmp_path):
    x, y = ref.digits_as_mnist(tmp_path)
    raw = tmp_path / "MNIST" / "raw"
    header = (raw / "train-images-idx3-ubyte").read_bytes()[:16]
    assert header[:4] == bytes([0, 0, 8, 3]) and int.from_bytes(header[4:8], "big") == 1797
    assert int.from_bytes(header[8:12], "big") == 28 == int.from_bytes(header[12:16], "big")
    from datamodules.mnist import MNISTDataModule

    dm = MNISTDataModule(root=str(tmp_path))
    dm.setup()
    assert tuple(dm.train_x.shape) == (1797, 1, 28, 28) and dm.train_x.dtype == torch.uint8
    np.testing.assert_array_equal(dm.train_x[:, 0].numpy(), x)
    np.testing.assert_array_equal(dm.train_y.numpy(), y)
    assert x.max() == 255 and x.min() == 0                      # the digits' 0..16 scaled to the full range


def test_the_script_does_not_import_ganbench_networks_or_objectives():
    tree = ast.parse(Path(ref.__file__).read_text())
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert "models" not in imported


def test_textbook_networks_are_radford_et_al():
    torch.manual_seed(0)
    g, d = ref.TextbookGenerator(), ref.TextbookDiscriminator()
    g.apply(ref.weights_init)
    d.apply(ref.weights_init)
    x = g(torch.randn(5, 100))
    assert x.shape == (5, 1, 28, 28) and x.abs().max() <= 1 and d(x).shape == (5,)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 2
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 1      # not after D's input layer
    w = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(w.std().item() - 0.02) < 0.001


def test_a_few_iterations_run_and_score(tmp_path, monkeypatch):
    monkeypatch.setenv("GANBENCH_CACHE", str(tmp_path / "cache"))
    ref.digits_as_mnist(tmp_path)
    out = tmp_path / "r.json"
    assert ref.main(["textbook", "--root", str(tmp_path), "--iterations", "3", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["iterations"] == 3
    assert all(np.isfinite(result[k]) and result[k] > 0 for k in ("domain_fd_train_mode", "domain_fd_eval_mode"))
