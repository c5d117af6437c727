"""Shared plumbing of the real image datamodules (MNIST, Fashion-MNIST, CIFAR-10, CelebA, Stacked MNIST, folders).

Every dataset is parsed by its ``torchvision.datasets`` class, so the files on disk are the standard ones, and is
held in memory as one ``uint8`` tensor ``(N, C, H, W)`` with ``int64`` labels; :class:`~datamodules.base.GANDataModule`
then scales batches to ``[-1, 1]``, shards them under DDP and serves the reference images for FID/KID.

Where the data lives: the ``root`` option, else ``$GANBENCH_DATA``, else ``./data``. Nothing is downloaded unless
``download=True``. A missing or corrupted dataset raises :class:`DatasetMissingError` before torchvision is asked
to parse anything, so the failure is immediate and names the directory, the files and the download command.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, ClassVar, Optional

import torch
from torch import Tensor

from .base import GANDataModule, scale_to_unit

DATA_ENV = "GANBENCH_DATA"
STANDARD_IMAGE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage")


class DatasetMissingError(FileNotFoundError):
    """A dataset's files are absent (or fail torchvision's md5 check); the message says where and how to get them."""


def default_root() -> str:
    """The data root used when no ``root`` option is given: ``$GANBENCH_DATA``, else ``./data``."""
    return os.environ.get(DATA_ENV) or "./data"


def missing_message(dataset: str, directory: Path, files: list[str], missing: list[str], command: str,
                    problem: str = "not found") -> str:
    """The text of every :class:`DatasetMissingError`: what, where, which files, and how to download them."""
    return (f"{dataset} {problem} in {directory}\n"
            f"  expected files: {', '.join(files)}\n"
            f"  missing: {', '.join(missing) if missing else '(none; see above)'}\n"
            f"Download it (needs internet) with:\n"
            f"  {command}\n"
            f"or add --download true to `python -m benchmark run` (download=True for the datamodule). The data root "
            f"is --root DIR (the 'root' option), else ${DATA_ENV}, else ./data.")


class TorchvisionImageDataModule(GANDataModule):
    """Base of the datasets read by a ``torchvision.datasets`` class: root/download/split options and checks.

    Subclasses set ``folder`` (directory under ``root`` that holds the files), ``required_files`` (paths relative
    to it that must exist) and implement :meth:`download_command` and :meth:`load_split`.

    Args:
        root: directory holding the datasets; ``None`` means ``$GANBENCH_DATA`` or ``./data``.
        download: let torchvision download missing files (needs internet).
        split: split trained on.
        reference_split: split whose images :meth:`reference` returns for FID/KID; ``None`` = ``split``.

    Raises:
        DatasetMissingError: at :meth:`setup` when the files are absent, fail torchvision's integrity check, or the
            download fails.
    """

    kind = "image"
    metrics = STANDARD_IMAGE_METRICS
    folder: ClassVar[str] = ""
    torchvision_class: ClassVar[str] = ""
    files: ClassVar[tuple[str, ...]] = ()     # what :meth:`required_files` lists, unless overridden
    splits: ClassVar[tuple[str, ...]] = ("train", "test")

    def __init__(self, batch_size: int = 64, seed: int = 0, on_device: bool = False, root: Optional[str] = None,
                 download: bool = False, split: str = "train", reference_split: Optional[str] = None,
                 hflip: bool = False) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device, hflip=hflip)
        reference_split = split if reference_split is None else reference_split
        for opt, value in (("split", split), ("reference_split", reference_split)):
            if value not in self.splits:
                raise ValueError(f"{self.name}: {opt}={value!r} is not valid; choose one of: {', '.join(self.splits)}")
        self.root = Path(root if root is not None else default_root()).expanduser()
        self.download, self.split = download, split
        self.reference_split = reference_split   # instance value shadows the ClassVar: describe() records it
        self._reference: tuple[Tensor, Tensor | None] | None = None

    # -- subclasses ----------------------------------------------------------------------------------
    def required_files(self) -> list[str]:
        """Files (relative to ``root / folder``) that must exist before torchvision is called."""
        return list(self.files)

    def download_command(self) -> str:
        """A shell command that downloads the dataset into ``root`` (both splits of ``torchvision_class``)."""
        return (f"python -c \"from torchvision.datasets import {self.torchvision_class}; "
                f"[{self.torchvision_class}('{self.root.resolve()}', train=t, download=True) for t in (True, False)]\"")

    def load_split(self, split: str) -> tuple[Tensor, Tensor | None]:
        """Parse one split through torchvision: ``(uint8 (N, C, H, W), int64 (N,) or None)``."""
        raise NotImplementedError

    # -- shared ----------------------------------------------------------------------------------------
    @property
    def directory(self) -> Path:
        return self.root / self.folder

    def check_files(self) -> None:
        """Raise :class:`DatasetMissingError` (instantly) if any required file is absent."""
        files = self.required_files()
        missing = [f for f in files if not (self.directory / f).exists()]
        if missing:
            raise DatasetMissingError(missing_message(self.torchvision_class or self.name, self.directory, files,
                                                      missing, self.download_command()))

    def open_torchvision(self, factory: Callable[[bool], object]) -> object:
        """Call ``factory(download)`` (a torchvision dataset constructor), turning its failures into
        :class:`DatasetMissingError`. Without ``download`` the files are checked first, so nothing slow runs."""
        if not self.download:
            self.check_files()
        try:
            return factory(self.download)
        except Exception as err:   # torchvision raises RuntimeError/URLError/OSError for absent, corrupt, offline
            problem = ("could not be downloaded (download=True was set: is this machine online?)" if self.download
                       else "is present but failed torchvision's integrity (md5) check — corrupted or partial copy?")
            files = self.required_files()
            missing = [f for f in files if not (self.directory / f).exists()]
            raise DatasetMissingError(missing_message(self.torchvision_class or self.name, self.directory, files,
                                                      missing, self.download_command(), problem=problem)
                                      + f"\n(torchvision said: {type(err).__name__}: {err})") from err

    def open_split(self, split: str) -> object:
        """The torchvision dataset ``torchvision_class`` of ``split`` (``"train"`` or ``"test"``), opened through
        :meth:`open_torchvision`."""
        import torchvision.datasets as tvd

        cls = getattr(tvd, self.torchvision_class)
        return self.open_torchvision(lambda download: cls(str(self.root), train=split == "train", download=download))

    def load(self) -> tuple[Tensor, Tensor | None]:
        return self.load_split(self.split)

    def reference(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor | None]:
        """``n`` real images in [-1, 1] from ``reference_split`` (the training split unless told otherwise)."""
        if self.reference_split == self.split:
            return super().reference(n, seed)
        if self._reference is None:
            self._reference = self.load_split(self.reference_split)
        x, y = self._reference
        g = torch.Generator().manual_seed(seed)
        N = x.shape[0]
        idx = torch.randperm(N, generator=g)[:n] if n <= N else torch.randint(N, (n,), generator=g)
        return scale_to_unit(x[idx]), (y[idx] if y is not None else None)

    def describe(self) -> dict:
        return {**super().describe(), "train_split": self.split, "root": str(self.root),
                "source": f"torchvision.datasets.{self.torchvision_class}" if self.torchvision_class else None}

