"""The datamodule contract shared by every GANBench dataset.

A :class:`GANDataModule` holds its whole training split in memory as one tensor (``uint8`` images or
``float32`` points) plus optional integer labels, and serves shuffled batches through
:class:`TensorBatchLoader`: no DataLoader workers, no collate, batches scaled to ``[-1, 1]`` on the fly and,
with ``on_device=True``, sliced directly on the accelerator. Under DDP every rank sees a disjoint shard of
each epoch's permutation.
"""
from __future__ import annotations

import math
from typing import ClassVar, Iterator

import pytorch_lightning as pl
import torch
from torch import Tensor


class TensorBatchLoader:
    """Seeded, shardable, infinite-friendly batch iterator over in-memory tensors.

    Args:
        data: ``(N, ...)`` samples; ``uint8`` images are scaled to ``[-1, 1]`` per batch, floats pass through.
        labels: ``(N,)`` int64 labels or ``None``.
        batch_size: samples per batch on *this* rank.
        seed: the permutation of epoch ``e`` is drawn from ``seed + e`` (identical on every rank).
        rank, world_size: this rank takes ``perm[rank::world_size]``, so shards are disjoint.

    Yields ``(x, y)`` with ``y`` an empty tensor when there are no labels (Lightning moves both).

    Resumable: :meth:`state_dict` / :meth:`load_state_dict` hold ``(epoch, position)`` of the next batch to
    train on, so a run resumed from a checkpoint continues with exactly the batch it would have seen next
    (Lightning does not prefetch from a loader that has a length, so batches yielded = batches trained on).
    """

    def __init__(self, data: Tensor, labels: Tensor | None, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True) -> None:
        per_rank = data.shape[0] // world_size
        if batch_size > per_rank:
            raise ValueError(f"batch_size={batch_size} is larger than the {per_rank} samples per rank "
                             f"({data.shape[0]} samples / {world_size} ranks): lower --batch-size")
        self.data, self.labels = data, labels
        self.batch_size, self.seed = batch_size, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch = 0                     # the next epoch __iter__ starts
        self._current, self._yielded = -1, 0    # the epoch being iterated and batches yielded from it
        self._start = 0                    # batches of the next epoch to skip (set when resuming)
        self._empty = torch.empty(0, dtype=torch.long, device=data.device)

    def __len__(self) -> int:
        per_rank = self.data.shape[0] // self.world_size
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def shard_indices(self, epoch: int) -> Tensor:
        """Indices this rank visits in ``epoch`` (disjoint across ranks, equal length)."""
        g = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(self.data.shape[0], generator=g)
        usable = (self.data.shape[0] // self.world_size) * self.world_size
        return perm[:usable][self.rank::self.world_size].to(self.data.device)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, start = self.epoch, self._start
        self.epoch, self._start = epoch + 1, 0
        self._current, self._yielded = epoch, start
        idx = self.shard_indices(epoch)
        for b in range(start, len(self)):
            sel = idx[b * self.batch_size:(b + 1) * self.batch_size]
            self._yielded = b + 1
            yield scale_to_unit(self.data[sel]), (self.labels[sel] if self.labels is not None else self._empty)

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "position"}``: the epoch being iterated and the batches already taken from it."""
        if self._current < 0:
            return {"epoch": self.epoch, "position": self._start}
        return {"epoch": self._current, "position": self._yielded}

    def load_state_dict(self, state: dict[str, int]) -> None:
        epoch, position = int(state["epoch"]), int(state["position"])
        if position >= len(self):
            epoch, position = epoch + 1, 0
        self.epoch, self._start = epoch, position
        self._current = -1


def scale_to_unit(x: Tensor) -> Tensor:
    """``uint8`` in [0, 255] -> float in [-1, 1]; floating input is returned unchanged."""
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    return x


def unit_to_uint8(x: Tensor) -> Tensor:
    """Inverse of :func:`scale_to_unit` for images: float in [-1, 1] -> ``uint8``."""
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


class GANDataModule(pl.LightningDataModule):
    """Base class: subclasses set the class attributes and implement :meth:`load`.

    Class attributes:
        name: registry name.
        kind: ``"points"`` (2-D toy data, float) or ``"image"`` (``uint8`` C×H×W).
        dims: shape of one sample.
        num_classes: number of labels, or 0 when unlabelled.
        metrics: names of the metrics (see ``benchmark.metrics``) scored on this dataset by default.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "points"
    dims: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int] = 0
    metrics: ClassVar[tuple[str, ...]] = ()
    reference_split: ClassVar[str] = "train"

    def __init__(self, batch_size: int = 256, seed: int = 0, on_device: bool = False) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size, self.seed, self.on_device = batch_size, seed, on_device
        self.train_x: Tensor | None = None
        self.train_y: Tensor | None = None

    # -- subclasses -------------------------------------------------------------------------------
    def load(self) -> tuple[Tensor, Tensor | None]:
        """Return the whole training split: ``(data, labels or None)``."""
        raise NotImplementedError

    def describe(self) -> dict:
        """What a score's protocol needs to know about the data (name, split, size)."""
        n = int(self.train_x.shape[0]) if self.train_x is not None else None
        return {"dataset": self.name, "split": self.reference_split, "num_samples": n}

    # -- Lightning ----------------------------------------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_x is None:
            x, y = self.load()
            if self.kind == "image" and x.dtype != torch.uint8:
                raise TypeError(f"{self.name}: image datasets must load as uint8, got {x.dtype}")
            self.train_x, self.train_y = x, y

    def _device(self) -> torch.device:
        trainer = getattr(self, "trainer", None)
        if self.on_device and trainer is not None:
            return trainer.strategy.root_device
        return torch.device("cpu")

    def train_dataloader(self) -> TensorBatchLoader:
        self.setup()
        device = self._device()
        trainer = getattr(self, "trainer", None)
        rank = trainer.global_rank if trainer is not None else 0
        world = trainer.world_size if trainer is not None else 1
        labels = self.train_y.to(device) if self.train_y is not None else None
        return TensorBatchLoader(self.train_x.to(device), labels, self.batch_size, seed=self.seed,
                                 rank=rank, world_size=world)

    def reference(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor | None]:
        """``n`` real samples in [-1, 1] (with labels) for scoring; drawn without replacement when possible."""
        self.setup()
        g = torch.Generator().manual_seed(seed)
        N = self.train_x.shape[0]
        idx = torch.randperm(N, generator=g)[:n] if n <= N else torch.randint(N, (n,), generator=g)
        y = self.train_y[idx] if self.train_y is not None else None
        return scale_to_unit(self.train_x[idx]), y
