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
    """Seeded, shardable, resumable batch stream over in-memory tensors.

    Args:
        data: ``(N, ...)`` samples; ``uint8`` images are scaled to ``[-1, 1]`` per batch, floats pass through.
        labels: ``(N,)`` int64 labels or ``None``.
        batch_size: samples per batch on *this* rank.
        seed: the permutation of epoch ``e`` is drawn from ``seed + e`` (identical on every rank).
        rank, world_size: this rank takes ``perm[rank::world_size]``, so shards are disjoint.
        stack: batches per item. With ``stack=S > 1`` each item is the next ``S`` batches of the *same* stream,
            stacked: ``x`` of shape ``(S, batch_size, ...)`` and ``y`` of ``(S, batch_size)`` (or empty). The
            module then trains on them one after the other in a single Lightning ``training_step`` (see
            ``models.fusion.StepFusion``), so the batches, their order and the maths are those of ``stack=1``;
            only Lightning's per-batch dispatch is paid once per ``S`` batches. Items may span an epoch
            boundary.
        hflip: mirror each image left-right with probability 1/2 (the usual GAN augmentation for CIFAR-10 and
            CelebA), on the data's device with no host sync. Whether sample ``i`` is mirrored in epoch ``e``
            depends only on ``(seed, e, i)``: the same with any ``stack``, any number of ranks and after a resume.

    Yields ``(x, y)`` with ``y`` an empty tensor when there are no labels (Lightning moves both).

    The stream is batch ``t = epoch * len + position`` for ``t = 0, 1, ...``; one ``iter()`` runs to the end of
    the current *pass*, ``stack`` epochs long (one epoch when ``stack=1``), so ``len()`` items per pass.
    Resumable: :meth:`state_dict` / :meth:`load_state_dict` hold ``(epoch, position)`` of the next batch to
    train on, so a run resumed from a checkpoint continues with exactly the batch it would have seen next
    (Lightning does not prefetch from a loader that has a length, so batches yielded = batches trained on),
    whatever ``stack`` either run used.
    """

    def __init__(self, data: Tensor, labels: Tensor | None, batch_size: int, seed: int = 0,
                 rank: int = 0, world_size: int = 1, drop_last: bool = True, stack: int = 1,
                 hflip: bool = False) -> None:
        per_rank = data.shape[0] // world_size
        if batch_size > per_rank:
            raise ValueError(f"batch_size={batch_size} is larger than the {per_rank} samples per rank "
                             f"({data.shape[0]} samples / {world_size} ranks): lower --batch-size")
        if stack < 1:
            raise ValueError(f"stack={stack} must be >= 1")
        if stack > 1 and not drop_last:
            raise ValueError("stack > 1 needs drop_last=True (stacked batches have one size)")
        if hflip and data.dim() != 4:
            raise ValueError(f"hflip needs images (N, C, H, W), got data of shape {tuple(data.shape)}")
        self.data, self.labels = data, labels
        self.batch_size, self.seed, self.stack, self.hflip = batch_size, seed, stack, hflip
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self._t = 0                        # the next batch of the stream
        self._idx: dict[int, tuple[Tensor, Tensor | None]] = {}   # shard indices (and flips) of epochs in use
        self._empty = torch.empty(0, dtype=torch.long, device=data.device)

    def batches_per_epoch(self) -> int:
        per_rank = self.data.shape[0] // self.world_size
        return per_rank // self.batch_size if self.drop_last else math.ceil(per_rank / self.batch_size)

    def __len__(self) -> int:
        return self.batches_per_epoch()

    @property
    def epoch(self) -> int:
        """Epochs the stream has drawn batches from so far."""
        return -(-self._t // self.batches_per_epoch())

    def shard_indices(self, epoch: int) -> Tensor:
        """Indices this rank visits in ``epoch`` (disjoint across ranks, equal length)."""
        return self._epoch(epoch)[0]

    def _epoch(self, epoch: int) -> tuple[Tensor, Tensor | None]:
        """This rank's indices in ``epoch`` and, with ``hflip``, whether each of those samples is mirrored."""
        g = torch.Generator().manual_seed(self.seed + epoch)
        perm = torch.randperm(self.data.shape[0], generator=g)
        usable = (self.data.shape[0] // self.world_size) * self.world_size
        idx = perm[:usable][self.rank::self.world_size]
        flips = None
        if self.hflip:          # drawn after the permutation from the same stream: one coin per sample id
            flips = (torch.rand(self.data.shape[0], generator=g) < 0.5)[idx].to(self.data.device)
        return idx.to(self.data.device), flips

    def batch_indices(self, t: int) -> tuple[Tensor, Tensor | None]:
        """Sample indices of stream batch ``t`` (and, with ``hflip``, whether each is mirrored)."""
        return self._indices(t)

    def _indices(self, t: int) -> tuple[Tensor, Tensor | None]:
        """Sample indices of stream batch ``t`` (and their flips)."""
        epoch, b = divmod(t, self.batches_per_epoch())
        if epoch not in self._idx:
            self._idx = {e: v for e, v in self._idx.items() if e >= epoch - 1}
            self._idx[epoch] = self._epoch(epoch)
        idx, flips = self._idx[epoch]
        part = slice(b * self.batch_size, (b + 1) * self.batch_size)
        return idx[part], (flips[part] if flips is not None else None)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n, s = self.batches_per_epoch(), self.stack
        end = (self._t // (n * s) + 1) * (n * s)          # the end of the current pass
        while self._t < end:
            t = self._t
            parts = [self._indices(t + i) for i in range(s)]
            sel = parts[0][0] if s == 1 else torch.cat([p[0] for p in parts])
            self._t = t + s
            x = self.data[sel]
            if self.hflip:                                # where(), not masked indexing: no host sync
                flips = parts[0][1] if s == 1 else torch.cat([p[1] for p in parts])
                x = torch.where(flips.view(-1, *([1] * (x.dim() - 1))), x.flip(-1), x)
            x = scale_to_unit(x)
            y = self.labels[sel] if self.labels is not None else self._empty
            if s > 1:
                x = x.view(s, self.batch_size, *x.shape[1:])
                y = y.view(s, self.batch_size) if self.labels is not None else y
            yield x, y

    def state_dict(self) -> dict[str, int]:
        """``{"epoch", "position"}`` of the next batch of the stream."""
        epoch, position = divmod(self._t, self.batches_per_epoch())
        return {"epoch": epoch, "position": position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._t = int(state["epoch"]) * self.batches_per_epoch() + int(state["position"])


class PopulationBatchLoader:
    """The batch streams of a population's members over one shared dataset, stacked.

    Member ``k`` draws exactly the batches a :class:`TensorBatchLoader` with ``seed=seeds[k]`` would (the same
    permutation per epoch, the same flips), so member ``k`` sees its single run's data order; the batches of
    all members are gathered in one indexing of the (possibly on-device) data. Items are ``(x, y)`` with ``x``
    of shape ``(S, batch_size, *dims)`` and ``y`` ``(S, batch_size)`` (an empty tensor without labels).
    Resumable like :class:`TensorBatchLoader` (``state_dict``: the next batch of every stream).
    """

    def __init__(self, data: Tensor, labels: Tensor | None, batch_size: int, seeds: list[int],
                 hflip: bool = False) -> None:
        self.members = [TensorBatchLoader(data, labels, batch_size, seed=s, hflip=hflip) for s in seeds]
        self.data, self.labels, self.batch_size, self.hflip = data, labels, batch_size, hflip
        self._t = 0
        self._empty = torch.empty(0, dtype=torch.long, device=data.device)

    def __len__(self) -> int:
        return self.members[0].batches_per_epoch()

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        n = len(self)
        end = (self._t // n + 1) * n
        while self._t < end:
            parts = [m.batch_indices(self._t) for m in self.members]
            self._t += 1
            idx = torch.stack([p[0] for p in parts])                       # (S, B)
            x = self.data[idx]
            if self.hflip:
                flips = torch.stack([p[1] for p in parts])
                x = torch.where(flips.view(*flips.shape, *([1] * (x.dim() - 2))), x.flip(-1), x)
            y = self.labels[idx] if self.labels is not None else self._empty
            yield scale_to_unit(x), y

    def state_dict(self) -> dict[str, int]:
        epoch, position = divmod(self._t, len(self))
        return {"epoch": epoch, "position": position}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._t = int(state["epoch"]) * len(self) + int(state["position"])


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
        metrics: names of the metrics (see ``benchmark.score``) scored on this dataset by default; the first is
            the dataset's primary metric (:meth:`primary_metric`).
        has_modes: the data are points drawn around known mode centres, given by the classmethod ``modes()``
            (mode-coverage metrics, modes drawn on sample plots); see :meth:`known_modes`.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "points"
    dims: ClassVar[tuple[int, ...]] = ()
    num_classes: ClassVar[int] = 0
    metrics: ClassVar[tuple[str, ...]] = ()
    reference_split: ClassVar[str] = "train"
    has_modes: ClassVar[bool] = False

    @classmethod
    def known_modes(cls) -> Tensor | None:
        """The ``(K, *dims)`` mode centres when the data declares ``has_modes``, else ``None``."""
        return cls.modes() if cls.has_modes else None

    @classmethod
    def primary_metric(cls) -> str | None:
        """The one metric this dataset's runs are ranked by (the first of ``metrics``): "best run", sample
        captions, leaderboards, thresholds and tuning all use it."""
        return cls.metrics[0] if cls.metrics else None

    def __init__(self, batch_size: int = 256, seed: int = 0, on_device: bool = False, hflip: bool = False) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if hflip and self.kind != "image":
            raise ValueError(f"hflip mirrors images; {self.name} holds {self.kind}: leave hflip off")
        self.batch_size, self.seed, self.on_device, self.hflip = batch_size, seed, on_device, hflip
        # batches stacked into one training-loader item (models.fusion.StepFusion.attach sets it)
        self.batches_per_step = 1
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
                                 rank=rank, world_size=world, stack=self.batches_per_step, hflip=self.hflip)

    def population_dataloader(self, seeds: list[int], device: torch.device | str | None = None
                              ) -> PopulationBatchLoader:
        """The stacked batch streams of runs with these seeds (each its :meth:`train_dataloader` order), on
        ``device`` (default: the trainer's with ``on_device``, else the CPU)."""
        self.setup()
        device = self._device() if device is None else torch.device(device)
        labels = self.train_y.to(device) if self.train_y is not None else None
        return PopulationBatchLoader(self.train_x.to(device), labels, self.batch_size, list(seeds), hflip=self.hflip)

    def reference(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor | None]:
        """``n`` real samples in [-1, 1] (with labels) for scoring; drawn without replacement when possible."""
        self.setup()
        g = torch.Generator().manual_seed(seed)
        N = self.train_x.shape[0]
        idx = torch.randperm(N, generator=g)[:n] if n <= N else torch.randint(N, (n,), generator=g)
        y = self.train_y[idx] if self.train_y is not None else None
        return scale_to_unit(self.train_x[idx]), y
