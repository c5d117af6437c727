"""The shared datamodule contract on the embedded datasets."""
import pytest
import torch

from datamodules import DATAMODULES, DigitsDataModule, Grid25DataModule, Ring8DataModule, TensorBatchLoader


def test_ring_and_grid_geometry():
    r = Ring8DataModule.modes()
    assert r.shape == (8, 2) and torch.allclose(r.norm(dim=1), torch.full((8,), 2.0))
    g = Grid25DataModule.modes()
    assert g.shape == (25, 2) and set(g[:, 0].tolist()) == {-4.0, -2.0, 0.0, 2.0, 4.0}


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_has_modes_is_declared_with_the_mode_centres(name):
    cls = DATAMODULES[name]
    modes = cls.known_modes()
    if cls.has_modes:
        assert modes.ndim == 2 and modes.shape[1:] == cls.dims and modes.shape[0] >= 2
    else:
        assert modes is None and not callable(getattr(cls, "modes", None))


def test_toy_data_is_fixed_across_run_seeds():
    a, b = Ring8DataModule(seed=0, num_samples=100), Ring8DataModule(seed=5, num_samples=100)
    a.setup(), b.setup()
    assert torch.equal(a.train_x, b.train_x)


def test_digits_are_uint8_scaled_on_the_fly():
    dm = DigitsDataModule(batch_size=64)
    dm.setup()
    assert dm.train_x.dtype == torch.uint8 and dm.train_x.shape == (1797, 1, 8, 8)
    assert set(dm.train_y.unique().tolist()) == set(range(10))
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (64, 1, 8, 8) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.min() == -1 and y.shape == (64,)


def test_shards_are_disjoint_and_cover_the_epoch():
    data = torch.arange(100).float().unsqueeze(1)
    loaders = [TensorBatchLoader(data, None, 10, seed=3, rank=r, world_size=2) for r in range(2)]
    seen = [torch.cat([x for x, _ in l]).squeeze(1).long() for l in loaders]
    assert len(seen[0]) == len(seen[1]) == 50
    assert not set(seen[0].tolist()) & set(seen[1].tolist())
    assert set(seen[0].tolist()) | set(seen[1].tolist()) == set(range(100))


def test_loader_is_seeded_and_reshuffles_each_epoch():
    data = torch.arange(64).float().unsqueeze(1)
    a, b = TensorBatchLoader(data, None, 8, seed=1), TensorBatchLoader(data, None, 8, seed=1)
    e0a, e0b = [x for x, _ in a], [x for x, _ in b]
    assert all(torch.equal(u, v) for u, v in zip(e0a, e0b))
    e1a = [x for x, _ in a]
    assert not all(torch.equal(u, v) for u, v in zip(e0a, e1a))


def test_batch_larger_than_dataset_is_a_clear_error():
    with pytest.raises(ValueError, match="larger than the"):
        TensorBatchLoader(torch.zeros(10, 2), None, 64)


@pytest.mark.parametrize("name", ["ring8", "grid25", "digits"])
def test_registry_datamodules_serve_batches(name):
    dm = DATAMODULES[name](batch_size=16)
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, *dm.dims) and torch.isfinite(x).all()


# ------------------------------------------------------------------------- on-device augmentation: hflip
def _epoch_flips(loader, n_batches):
    """{sample id: mirrored?} over the next ``n_batches`` batches of ``loader`` (ids are the labels)."""
    out, it = {}, iter(loader)
    while len(out) < n_batches * loader.batch_size:
        x, y = next(it)
        x, y = x.reshape(-1, *x.shape[-3:]), y.reshape(-1)
        for img, i in zip(x, y.tolist()):
            plain = loader.data[i].float() / 127.5 - 1
            assert torch.equal(img, plain) or torch.equal(img, plain.flip(-1)), i
            out[i] = not torch.equal(img, plain)
    return out


def test_hflip_mirrors_half_the_images_the_same_on_any_shard_and_stack():
    n = 64
    data = torch.arange(n * 6, dtype=torch.uint8).reshape(n, 1, 2, 3)      # no image equals its mirror
    labels = torch.arange(n)
    one = _epoch_flips(TensorBatchLoader(data, labels, 8, seed=5, hflip=True), 8)
    assert len(one) == n and 16 <= sum(one.values()) <= 48                 # a fair coin per image
    shards = {}
    for rank in range(2):
        shards.update(_epoch_flips(TensorBatchLoader(data, labels, 8, seed=5, hflip=True, rank=rank,
                                                     world_size=2), 4))
    assert shards == one                                                  # whatever the number of ranks
    assert _epoch_flips(TensorBatchLoader(data, labels, 8, seed=5, hflip=True, stack=4), 8) == one
    loader = TensorBatchLoader(data, labels, 8, seed=5, hflip=True)
    _epoch_flips(loader, 8)
    assert _epoch_flips(loader, 8) != one                                 # new coins every epoch
    plain = TensorBatchLoader(data, labels, 8, seed=5)
    assert not any(_epoch_flips(plain, 8).values())


def test_hflip_is_an_image_option_that_changes_the_run_identity():
    from benchmark.train.options import resolve
    from models import ConfigError

    on = resolve({"data": "cifar10", "hflip": True}).config()
    assert on["data.hflip"] is True and resolve({"data": "cifar10"}).config()["data.hflip"] is False
    with pytest.raises(ConfigError, match="unknown option 'hflip'"):
        resolve({"data": "ring8", "hflip": True})
    with pytest.raises(ValueError, match="needs images"):
        TensorBatchLoader(torch.zeros(10, 2), None, 2, hflip=True)
