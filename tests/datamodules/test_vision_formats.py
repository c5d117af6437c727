"""Real image datamodules, loaded through torchvision from tiny files written in each dataset's on-disk format."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from datamodules import (DATAMODULES, CelebADataModule, CIFAR10DataModule, DatasetMissingError,
                         FashionMNISTDataModule, ImageFolderDataModule, MNISTDataModule, StackedMNISTDataModule,
                         TensorBatchLoader)

try:
    from .fixtures_vision import skip_md5, write_celeba, write_cifar10, write_image_folder, write_mnist
except ImportError:
    from fixtures_vision import skip_md5, write_celeba, write_cifar10, write_image_folder, write_mnist

VISION = ("mnist", "fashion_mnist", "cifar10", "celeba", "stacked_mnist", "image_folder")


@pytest.mark.parametrize("name", VISION)
def test_registered_as_image_datamodule(name):
    cls = DATAMODULES[name]
    assert cls.name == name and cls.kind == "image" and len(cls.dims) == 3
    assert "fid" in cls.metrics and "kid" in cls.metrics


# -- MNIST / Fashion-MNIST ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls, folder", [(MNISTDataModule, "MNIST"), (FashionMNISTDataModule, "FashionMNIST")])
def test_mnist_formats_load_exactly(tmp_path, cls, folder):
    written = write_mnist(tmp_path, folder=folder, n_train=64, n_test=32)
    dm = cls(root=str(tmp_path), batch_size=16, reference_split="test")
    dm.setup()
    x, y = dm.train_x, dm.train_y
    assert x.shape == (64, 1, 28, 28) and x.dtype == torch.uint8
    assert y.dtype == torch.int64
    assert torch.equal(x[:, 0], torch.from_numpy(written["train"][0]))
    assert torch.equal(y, torch.from_numpy(written["train"][1]).long())

    xb, yb = next(iter(dm.train_dataloader()))
    assert xb.shape == (16, 1, 28, 28) and xb.dtype == torch.float32
    assert xb.min() >= -1 and xb.max() <= 1 and xb.max() == 1.0      # the 255 blocks map to exactly 1

    ref, ref_y = dm.reference(32, seed=0)                               # the test split, as asked
    ids = (ref[:, 0, 0, 0].add(1).mul(127.5).round() + 256 * ref[:, 0, 0, 1].add(1).mul(127.5).round()).long()
    assert sorted(ids.tolist()) == list(range(64, 96))
    assert dm.describe()["split"] == "test" and dm.describe()["train_split"] == "train"


def test_root_defaults_to_env_var(tmp_path, monkeypatch):
    write_mnist(tmp_path)
    monkeypatch.setenv("GANBENCH_DATA", str(tmp_path))
    dm = MNISTDataModule()
    dm.setup()
    assert dm.root == tmp_path and dm.train_x.shape[0] == 64
    monkeypatch.delenv("GANBENCH_DATA")
    assert str(MNISTDataModule().root) == "data"


def test_two_rank_shards_are_disjoint_and_cover_the_epoch(tmp_path):
    write_mnist(tmp_path, n_train=64)
    dm = MNISTDataModule(root=str(tmp_path))
    dm.setup()
    seen = []
    for rank in (0, 1):
        loader = TensorBatchLoader(dm.train_x, dm.train_y, batch_size=8, seed=3, rank=rank, world_size=2)
        ids = []
        for xb, _ in loader:                                            # one epoch of this rank
            ids += (xb[:, 0, 0, 0].add(1).mul(127.5).round()).long().tolist()
        assert len(ids) == 32 and len(set(ids)) == 32
        seen.append(set(ids))
    assert seen[0].isdisjoint(seen[1]) and seen[0] | seen[1] == set(range(64))


# -- CIFAR-10 -----------------------------------------------------------------------------------------------
def test_cifar10_planes_become_chw(tmp_path, monkeypatch):
    skip_md5(monkeypatch)
    written = write_cifar10(tmp_path, n_per_batch=8, n_test=10)
    dm = CIFAR10DataModule(root=str(tmp_path), batch_size=8)
    dm.setup()
    assert dm.train_x.shape == (40, 3, 32, 32) and dm.train_x.dtype == torch.uint8
    assert torch.equal(dm.train_x, torch.from_numpy(written["train"][0]))
    assert dm.train_y.tolist() == written["train"][1] and dm.train_y.dtype == torch.int64
    assert dm.train_x[5, 1, 7, 0] == 28 and dm.train_x[5, 2, 0, 7] == 56    # G follows rows, B follows columns
    test = CIFAR10DataModule(root=str(tmp_path), split="test")
    test.setup()
    assert test.train_x.shape == (10, 3, 32, 32) and test.describe()["split"] == "test"
    flipped = CIFAR10DataModule(root=str(tmp_path), batch_size=40, hflip=True)   # one batch: the whole split
    x, y = next(iter(flipped.train_dataloader()))
    plain = dm.train_x.float() / 127.5 - 1
    order = flipped.train_dataloader().shard_indices(0)
    mirrored = [torch.equal(img, plain[i].flip(-1)) for img, i in zip(x, order.tolist())]
    assert 0 < sum(mirrored) < 40 and all(torch.equal(img, plain[i]) or m for img, i, m in zip(x, order.tolist(), mirrored))


def test_cifar10_md5_check_stays_on_for_users(tmp_path):
    write_cifar10(tmp_path)
    with pytest.raises(DatasetMissingError, match="md5"):
        CIFAR10DataModule(root=str(tmp_path)).setup()


# -- CelebA -------------------------------------------------------------------------------------------------
def test_celeba_split_crop_and_resize(tmp_path, monkeypatch):
    skip_md5(monkeypatch)
    write_celeba(tmp_path, partitions=[0, 0, 0, 1, 2, 2])
    dm = CelebADataModule(root=str(tmp_path), batch_size=2, reference_split="test")
    dm.setup()
    x = dm.train_x
    assert x.shape == (3, 3, 64, 64) and x.dtype == torch.uint8 and dm.train_y is None
    assert dm.attributes.shape == (3, 40) and set(dm.attributes.unique().tolist()) <= {0, 1}
    img = x[0].float()
    # the red frame lies outside the 160x160 centre crop: no red survives
    red = (img[0] > 128) & (img[1] < 100)
    assert not red.any()
    # the 80x80 white marker at the image centre becomes a centred 32x32 square (80 * 64/160)
    white = (img > 128).all(dim=0)
    rows, cols = white.any(dim=1).nonzero().flatten(), white.any(dim=0).nonzero().flatten()
    assert abs(len(rows) - 32) <= 1 and abs(len(cols) - 32) <= 1
    assert abs((rows[0] + rows[-1]).item() / 2 - 31.5) <= 1 and abs((cols[0] + cols[-1]).item() / 2 - 31.5) <= 1
    assert dm.reference(2)[0].shape == (2, 3, 64, 64)                  # test partition: 2 images
    assert "160x160" in dm.describe()["crop"]


def test_celeba_other_crops_differ_and_cache_is_reused(tmp_path, monkeypatch):
    skip_md5(monkeypatch)
    write_celeba(tmp_path, partitions=[0, 0, 1])
    tight = CelebADataModule(root=str(tmp_path), crop_size=108)
    tight.setup()
    assert (tight.train_x[0] > 128).all(dim=0).sum(dim=1).max() > 40    # 80 * 64/108 ≈ 47 pixels wide
    cached = next((tmp_path / "celeba" / "ganbench_cache").glob("train_n2_crop108_64.pt"))
    torch.save(torch.zeros_like(tight.train_x), cached)                  # a reused cache is what gets loaded
    again = CelebADataModule(root=str(tmp_path), crop_size=108)
    again.setup()
    assert again.train_x.sum() == 0


# -- Stacked MNIST ------------------------------------------------------------------------------------------
def test_stacked_mnist_channels_and_mode_labels(tmp_path):
    written = write_mnist(tmp_path, n_train=64, n_test=32)
    dm = StackedMNISTDataModule(root=str(tmp_path), num_samples=500, data_seed=7)
    dm.setup()
    x, y = dm.train_x, dm.train_y
    assert x.shape == (500, 3, 28, 28) and x.dtype == torch.uint8 and y.dtype == torch.int64
    pool_x = np.concatenate([written["train"][0], written["test"][0]])
    pool_y = np.concatenate([written["train"][1], written["test"][1]])
    ident = (x[:, :, 0, 0].long() + 256 * x[:, :, 0, 1].long()).numpy()   # (500, 3) source image per channel
    for i in range(500):
        for c in range(3):
            assert np.array_equal(x[i, c].numpy(), pool_x[ident[i, c]])
    d1, d2, d3 = (pool_y[ident[:, c]].astype(np.int64) for c in range(3))
    assert np.array_equal(y.numpy(), 100 * d1 + 10 * d2 + d3)
    assert (ident >= 64).any() and (ident < 64).any()                    # "all" pools train and test
    assert torch.equal(StackedMNISTDataModule.digits_of(y), torch.from_numpy(np.stack([d1, d2, d3], 1)))

    same = StackedMNISTDataModule(root=str(tmp_path), num_samples=500, data_seed=7, seed=99)
    same.setup()
    other = StackedMNISTDataModule(root=str(tmp_path), num_samples=500, data_seed=8)
    other.setup()
    assert torch.equal(same.train_x, x) and not torch.equal(other.train_x, x)
    assert dm.describe()["num_modes"] == 1000


def test_stacked_mnist_mode_label_by_hand():
    d = torch.tensor([[7, 0, 3], [0, 0, 0], [9, 9, 9]])
    assert StackedMNISTDataModule.mode_label(d[:, 0], d[:, 1], d[:, 2]).tolist() == [703, 0, 999]


# -- image folders --------------------------------------------------------------------------------------------
def test_image_folder_mixed_images(tmp_path):
    path = write_image_folder(tmp_path)
    dm = ImageFolderDataModule(path=str(path), resolution=32, channels=3, batch_size=2, labels_from_subfolders=True)
    dm.setup()
    x = dm.train_x
    assert x.shape == (4, 3, 32, 32) and x.dtype == torch.uint8 and dm.dims == (3, 32, 32)
    a, b, c, d = x.float()
    assert a[0].max() < 60 and a[1].min() > 200                       # centre crop removed the red bands
    assert b[2].min() > 200 and b[:2].max() < 60                        # blue JPEG
    assert (c - 200).abs().max() <= 1                                   # grayscale replicated to RGB
    assert d.min() > 250                                                # RGBA, alpha dropped
    assert dm.train_y.tolist() == [0, 0, 1, 1] and dm.classes == ["cats", "dogs"] and dm.num_classes == 2

    gray = ImageFolderDataModule(path=str(path), resolution=28, channels=1, crop=False, batch_size=2)
    gray.setup()
    assert gray.train_x.shape == (4, 1, 28, 28) and gray.train_y is None
    assert gray.train_x[0, 0, :, 0].float().mean() < gray.train_x[0, 0, :, 14].float().mean() - 30  # squashed: red edge kept


# -- missing data -------------------------------------------------------------------------------------------
def test_missing_mnist_exact_message_without_hanging(tmp_path):
    t0 = time.perf_counter()
    with pytest.raises(DatasetMissingError) as err:
        MNISTDataModule(root=str(tmp_path)).setup()
    assert time.perf_counter() - t0 < 120          # a hang guard only (e.g. a download attempt), not a speed claim
    files = "train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte"
    assert str(err.value) == (
        f"MNIST not found in {tmp_path}/MNIST/raw\n"
        f"  expected files: {files}\n"
        f"  missing: {files}\n"
        f"Download it (needs internet) with:\n"
        f"  python -c \"from torchvision.datasets import MNIST; "
        f"[MNIST('{tmp_path}', train=t, download=True) for t in (True, False)]\"\n"
        f"or add --download true to `python -m benchmark run` (download=True for the datamodule). The data root "
        f"is --root DIR (the 'root' option), else $GANBENCH_DATA, else ./data.")
    assert isinstance(err.value, FileNotFoundError)


@pytest.mark.parametrize("cls, directory, a_file", [
    (FashionMNISTDataModule, "FashionMNIST/raw", "t10k-labels-idx1-ubyte"),
    (CIFAR10DataModule, "cifar-10-batches-py", "data_batch_5"),
    (CelebADataModule, "celeba", "list_landmarks_align_celeba.txt"),
    (StackedMNISTDataModule, "MNIST/raw", "train-images-idx3-ubyte"),
])
def test_missing_data_names_directory_files_and_command(tmp_path, cls, directory, a_file):
    t0 = time.perf_counter()
    with pytest.raises(DatasetMissingError) as err:
        cls(root=str(tmp_path)).setup()
    assert time.perf_counter() - t0 < 5
    msg = str(err.value)
    assert f"{tmp_path}/{directory}" in msg and a_file in msg and "download=True)" in msg


def test_partial_mnist_lists_only_missing_files(tmp_path):
    write_mnist(tmp_path)
    (tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(DatasetMissingError, match=r"missing: t10k-labels-idx1-ubyte\n"):
        MNISTDataModule(root=str(tmp_path)).setup()


def test_missing_image_folder(tmp_path):
    with pytest.raises(DatasetMissingError, match="image folder not found"):
        ImageFolderDataModule(path=str(tmp_path / "nope")).setup()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetMissingError, match="no images in"):
        ImageFolderDataModule(path=str(tmp_path / "empty")).setup()
    with pytest.raises(DatasetMissingError, match="needs path="):
        ImageFolderDataModule().setup()


# -- through the CLI ----------------------------------------------------------------------------------------
def test_dcgan_nsgan_runs_through_cli_on_mnist_and_image_folder(tmp_path, monkeypatch):
    import json

    from benchmark.cli import main

    write_mnist(tmp_path / "data", n_train=64)
    folder = write_image_folder(tmp_path)
    for cls in (MNISTDataModule, ImageFolderDataModule):               # scoring (Inception on CPU) is tested elsewhere
        monkeypatch.setattr(cls, "metrics", ())
    common = ["--variant", "nsgan", "--arch", "dcgan", "--iterations", "2", "--width", "8", "--save-samples", "0",
              "--wandb", "disabled", "--threads", "1", "--results-dir", str(tmp_path / "res")]
    assert main(["run", "--data", "mnist", "--root", str(tmp_path / "data"), "--batch-size", "16", *common]) == 0
    assert main(["run", "--data", "image_folder", "--path", str(folder), "--resolution", "32", "--channels", "1",
                 "--batch-size", "2", *common]) == 0
    # missing data is bad input: exit 2, no failed run file (it used to break `report`)
    assert main(["run", "--data", "fashion_mnist", "--root", str(tmp_path / "empty"), *common]) == 2
    records = {r["dataset"]: r for r in (json.loads(p.read_text()) for p in (tmp_path / "res" / "runs").glob("*.json"))}
    assert records["mnist"]["status"] == records["image_folder"]["status"] == "completed"
    assert records["mnist"]["steps"] == records["image_folder"]["steps"] == 2
    assert "fashion_mnist" not in records
    broken = tmp_path / "broken" / "FashionMNIST" / "raw"         # files there but unreadable: found at set-up
    broken.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (broken / name).write_bytes(b"not idx")
    assert main(["run", "--data", "fashion_mnist", "--root", str(tmp_path / "broken"), *common]) == 2
    assert len(list((tmp_path / "res" / "runs").glob("*.json"))) == 2
