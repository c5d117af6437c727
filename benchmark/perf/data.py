"""Data-loading throughput: GANBench's in-memory loaders vs a torchvision ``DataLoader`` with workers.

Three ways of feeding MNIST-sized batches scaled to [-1, 1] are timed over the same files:

* ``in_memory``: :class:`~datamodules.base.TensorBatchLoader` over the ``uint8`` tensor in host memory;
* ``on_device``: the same loader over a tensor already on the accelerator (``on_device=True``; on a CPU-only
  machine this is the CPU, i.e. the same path);
* ``torchvision_dataloader``: ``torch.utils.data.DataLoader(torchvision.datasets.MNIST(..., transform=ToTensor +
  Normalize))`` with ``num_workers`` worker processes — the usual recipe.

Without a ``root`` holding MNIST, a synthetic 60,000-image MNIST in the real IDX format is written to a temporary
directory, so the measurement runs offline. Run: ``python -m benchmark.perf.data [--root DIR] [--torch-threads 1]``.
"""
from __future__ import annotations

import json
import struct
import tempfile
import time
from pathlib import Path
from typing import Optional

import numpy as np
import torch


def _write_synthetic_mnist(root: Path, n: int = 60_000, seed: int = 0) -> None:
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for prefix, count in (("train", n), ("t10k", max(1, n // 6))):
        for kind, shape in (("images-idx3", (count, 28, 28)), ("labels-idx1", (count,))):
            arr = rng.integers(0, 256 if kind.startswith("images") else 10, size=shape, dtype=np.uint8)
            with open(raw / f"{prefix}-{kind}-ubyte", "wb") as f:
                f.write(struct.pack(">BBBB", 0, 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape))
                f.write(arr.tobytes())


def _rate(batches, num_batches: int) -> tuple[float, float, int]:
    """(images/s over ``num_batches`` after the first batch, seconds to the first batch, images timed)."""
    t0 = time.perf_counter()
    it = iter(batches)
    x, _ = next(it)
    first = time.perf_counter() - t0
    seen, t1 = 0, time.perf_counter()
    for _ in range(num_batches):
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(batches)
            x, _ = next(it)
        seen += x.shape[0]
    x.sum().item()                                    # make sure device work (if any) has finished
    return seen / (time.perf_counter() - t1), first, seen


def measure_loader_throughput(root: Optional[str] = None, batch_size: int = 256, num_batches: int = 200,
                              num_workers: int = 2, device: Optional[str] = None, repeats: int = 3,
                              torch_threads: Optional[int] = None) -> dict:
    """Images/s of the three loaders over MNIST's training split (see module doc).

    Args:
        root: data root holding ``MNIST/raw``; ``None`` writes a synthetic one to a temporary directory.
        batch_size: images per batch.
        num_batches: batches timed per loader, after one warm-up batch (its time is reported as ``startup_s``).
        num_workers: DataLoader worker processes of the torchvision baseline.
        device: device for ``on_device``; default CUDA when available, else CPU.
        repeats: timed passes per loader, interleaved across loaders (a shared machine is noisy); the median is
            reported as ``images_per_s`` and every pass in ``runs``.
        torch_threads: intra-op threads of the main process while timing (``None``: leave as is). On a shared,
            oversubscribed CPU, 1 can be far faster than 2: OpenMP workers wait on each other for a core.

    Returns ``{"in_memory": {...}, "on_device": {...}, "torchvision_dataloader": {...}, "setup": {...}}`` where each
    loader entry has ``images_per_s``, ``runs``, ``startup_s`` (first pass), ``images`` (per pass); ``setup`` records
    the sizes and devices.
    """
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    from datamodules import MNISTDataModule, TensorBatchLoader

    tmp = None
    if root is None:
        tmp = tempfile.TemporaryDirectory(prefix="ganbench_perf_")
        root = tmp.name
        _write_synthetic_mnist(Path(root))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    threads_before = torch.get_num_threads()
    if torch_threads is not None:
        torch.set_num_threads(torch_threads)
    try:
        t0 = time.perf_counter()
        dm = MNISTDataModule(root=root, batch_size=batch_size)
        dm.setup()
        load_s = time.perf_counter() - t0
        tv = datasets.MNIST(root, train=True, transform=transforms.Compose(
            [transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]))
        loaders = {
            "in_memory": TensorBatchLoader(dm.train_x, dm.train_y, batch_size, seed=0),
            "on_device": TensorBatchLoader(dm.train_x.to(dev), dm.train_y.to(dev), batch_size, seed=0),
            "torchvision_dataloader": DataLoader(tv, batch_size=batch_size, shuffle=True, num_workers=num_workers,
                                                 drop_last=True, persistent_workers=num_workers > 0),
        }
        out: dict = {k: {"runs": []} for k in loaders}
        for _ in range(repeats):
            for key, loader in loaders.items():
                rate, first, seen = _rate(loader, num_batches)
                out[key]["runs"].append(round(rate))
                out[key].setdefault("startup_s", round(first, 4))
                out[key]["images"] = seen
        for key in loaders:
            out[key]["images_per_s"] = int(np.median(out[key]["runs"]))
        out["in_memory"]["device"], out["on_device"]["device"] = "cpu", str(dev)
        out["torchvision_dataloader"]["num_workers"] = num_workers
        out["setup"] = {"root": "synthetic (temporary)" if tmp else str(root), "train_images": len(tv),
                        "batch_size": batch_size, "num_batches": num_batches, "load_uint8_s": round(load_s, 3),
                        "torch_threads": torch.get_num_threads(), "device": str(dev), "repeats": repeats}
        del loaders
        return out
    finally:
        torch.set_num_threads(threads_before)
        if tmp is not None:
            tmp.cleanup()


def main(argv: Optional[list[str]] = None) -> dict:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--root", default=None, help="data root with MNIST/raw (default: synthetic, temporary)")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--num-batches", type=int, default=200)
    p.add_argument("--num-workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--torch-threads", type=int, default=None, help="intra-op threads while timing")
    a = p.parse_args(argv)
    res = measure_loader_throughput(a.root, a.batch_size, a.num_batches, a.num_workers, repeats=a.repeats,
                                    torch_threads=a.torch_threads)
    print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
