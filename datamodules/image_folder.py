"""A user's own images: every image file below a folder (recursively), resized to one square resolution."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Optional

import torch
from torch import Tensor

from .base import GANDataModule
from .vision import STANDARD_IMAGE_METRICS, DatasetMissingError, default_root

WIDE_GRAY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")     # Pillow's modes of 16-bit grayscale (PNG, TIFF)
GRAY_MODES = ("L", "1", *WIDE_GRAY_MODES)


def to_8bit(im, mode: str):
    """A PIL image converted to ``mode`` (``"L"`` or ``"RGB"``) with 16-bit grayscale *scaled* to 8 bits.

    Pillow's own ``convert("L")`` clips an ``I;16`` image at 255 (a mid-grey 32768 becomes white); here
    0..65535 maps to 0..255 as round(v / 257) (65535 / 257 = 255 exactly). 16-bit RGB PNGs are already reduced
    by Pillow to their high bytes, which is a scaling, not a clip.
    """
    import numpy as np
    from PIL import Image

    if im.mode in WIDE_GRAY_MODES:
        a = np.asarray(im).astype(np.float64)
        im = Image.fromarray(np.rint(np.clip(a, 0, 65535) / 257.0).astype(np.uint8), mode="L")
    return im.convert(mode)


class UnreadableImageError(ValueError):
    """An image file Pillow cannot read (corrupt, truncated, not an image); the message names the file."""


class ImageFolderDataModule(GANDataModule):
    """Images found recursively under ``path`` as ``uint8`` ``(channels, resolution, resolution)``.

    Every file whose extension torchvision's ``ImageFolder`` accepts (``.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff
    .webp``, any case) is read with PIL in sorted path order, converted to grayscale (``channels=1``) or RGB
    (``channels=3``; alpha is dropped), then, with ``crop=True``, its shorter side is resized to ``resolution``
    and the centred square kept (torchvision's ``Resize`` + ``CenterCrop``); with ``crop=False`` it is squashed
    to the square. Resizing is bilinear with antialiasing.

    Args:
        path: the folder; absolute, or relative to the working directory, else to ``root``.
        root: data root used to resolve a relative ``path`` (default ``$GANBENCH_DATA``, else ``./data``).
        resolution: side of the square images (the DCGAN networks need base·2^k: 28, 32, 64, 128...).
        channels: 1 (grayscale) or 3 (RGB).
        crop: keep the aspect ratio and centre-crop (True) or squash (False).
        labels_from_subfolders: label each image by its top-level subfolder (sorted names -> 0..K-1), like
            ``torchvision.datasets.ImageFolder``; images directly in ``path`` then get an error.
        num_threads: threads decoding images.

    Raises:
        DatasetMissingError: at ``setup()`` when ``path`` is unset, absent, or holds no image.
    """

    name = "image_folder"
    kind = "image"
    dims = (3, 64, 64)                                # the defaults; instances set their own
    num_classes = 0
    metrics = STANDARD_IMAGE_METRICS

    def __init__(self, batch_size: int = 64, seed: int = 0, on_device: bool = False, path: Optional[str] = None,
                 root: Optional[str] = None, resolution: int = 64, channels: int = 3, crop: bool = True,
                 labels_from_subfolders: bool = False, num_threads: int = 2, hflip: bool = False) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device, hflip=hflip)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        if resolution < 4:
            raise ValueError(f"resolution must be >= 4, got {resolution}")
        self.path, self.root = path, Path(root if root is not None else default_root()).expanduser()
        self.resolution, self.channels, self.crop = resolution, channels, crop
        self.labels_from_subfolders, self.num_threads = labels_from_subfolders, max(1, num_threads)
        self.dims = (channels, resolution, resolution)
        self.classes: list[str] = []
        self.files: list[Path] = []

    def directory(self) -> Path:
        if not self.path:
            raise DatasetMissingError("image_folder needs path=<folder of images> (absolute, or relative to the "
                                      "working directory or to the data root)")
        p = Path(self.path).expanduser()
        if p.is_absolute() or p.is_dir():
            return p
        return self.root / p if (self.root / p).is_dir() else p

    def find_images(self) -> list[Path]:
        """Sorted image files below the folder; raises :class:`DatasetMissingError` when there is none."""
        from torchvision.datasets.folder import IMG_EXTENSIONS

        d = self.directory()
        if not d.is_dir():
            raise DatasetMissingError(f"image folder not found: {d.resolve()}\n"
                                      f"  expected: image files ({' '.join(IMG_EXTENSIONS)}) anywhere below it")
        files = sorted(f for f in d.rglob("*") if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS)
        if not files:
            raise DatasetMissingError(f"no images in {d.resolve()}\n"
                                      f"  expected: image files ({' '.join(IMG_EXTENSIONS)}) anywhere below it")
        return files

    def to_tensor(self, file: Path) -> Tensor:
        """One file -> ``uint8`` ``(channels, resolution, resolution)``."""
        import torchvision.transforms.functional as TF
        from PIL import Image
        from torchvision.transforms import InterpolationMode

        try:
            with Image.open(file) as im:
                img = to_8bit(im, "L" if self.channels == 1 else "RGB")
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            raise UnreadableImageError(f"image_folder: cannot read image {file} ({type(e).__name__}: {e}): fix or "
                                       "remove it") from None
        r, bilinear = self.resolution, InterpolationMode.BILINEAR
        if self.crop:
            img = TF.center_crop(TF.resize(img, r, interpolation=bilinear, antialias=True), [r, r])
        else:
            img = TF.resize(img, [r, r], interpolation=bilinear, antialias=True)
        return TF.pil_to_tensor(img)

    def load(self) -> tuple[Tensor, Tensor | None]:
        d = self.directory()
        files = self.find_images()
        labels = None
        if self.labels_from_subfolders:
            top = [f.relative_to(d).parts for f in files]
            loose = [f for f, parts in zip(files, top) if len(parts) == 1]
            if loose:
                raise ValueError(f"labels_from_subfolders=True but {len(loose)} image(s) sit directly in {d} "
                                 f"(e.g. {loose[0].name}): put every image in a class subfolder")
            self.classes = sorted({parts[0] for parts in top})
            index = {c: i for i, c in enumerate(self.classes)}
            labels = torch.tensor([index[parts[0]] for parts in top], dtype=torch.long)
            self.num_classes = len(self.classes)
        x = torch.empty((len(files), *self.dims), dtype=torch.uint8)

        def fill(chunk: range) -> None:
            for i in chunk:
                x[i] = self.to_tensor(files[i])

        n, step = len(files), -(-len(files) // self.num_threads)
        with ThreadPoolExecutor(self.num_threads) as pool:
            list(pool.map(fill, [range(s, min(s + step, n)) for s in range(0, n, step)]))
        self.files = files
        return x, labels

    def describe(self) -> dict:
        d = self.directory() if self.path else None
        return {**super().describe(), "path": str(d.resolve()) if d else None, "resolution": self.resolution,
                "channels": self.channels, "crop": "center" if self.crop else "none (squash)",
                "classes": self.classes or None}
