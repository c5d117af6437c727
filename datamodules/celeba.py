"""CelebA 64×64: aligned faces, centre-cropped to a square and resized, read by torchvision from the JPEGs.

The crop. The aligned images are 178×218 (w×h) with the eyes at a fixed height; GAN papers cut a centred square
and resize it to 64×64, but the square's side differs between codebases:

* 160×160 — compare_gan (Lucic et al. 2018, "Are GANs Created Equal?"; Kurach et al. 2019),
  ``tf.image.resize_image_with_crop_or_pad(image, 160, 160)`` then ``resize_images(image, [64, 64])``
  (``compare_gan/datasets.py``, ``CelebaDataset._parse_fn``);
* 108×108 — DCGAN-tensorflow (``main.py --dataset celebA --input_height=108 --crop``): a tight face crop;
* 140×140 — many PyTorch repositories (``transforms.CenterCrop(140)``), e.g. the NCSN / score-matching code;
* 178×178 — mimicry (``CenterCrop(178)``: the full width).

We use **160**, the compare_gan crop, because the CelebA FIDs we quote beside ours (Lucic et al.; see
``/work/shared/REFERENCE_NUMBERS.md``) were measured on exactly that preprocessing; FID is very sensitive to the
crop, so numbers from another crop are not comparable. ``crop_size`` changes it (recorded by ``describe()``).
torchvision's ``CenterCrop`` rounds the offsets like TensorFlow's crop: rows 29..188, columns 9..168. Resizing is
bilinear with antialiasing (PIL); TF's ``resize_images`` does not antialias, a small remaining difference.

Decoding 162,770 JPEGs takes minutes on a small CPU, so the processed ``uint8`` tensor is cached next to the data
(``{root}/celeba/ganbench_cache/``) and reused; delete that folder to rebuild it.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import ClassVar, Optional

import torch
from torch import Tensor

from .vision import TorchvisionImageDataModule

CELEBA_TXT = ("list_eval_partition.txt", "identity_CelebA.txt", "list_attr_celeba.txt", "list_bbox_celeba.txt",
              "list_landmarks_align_celeba.txt")


class CelebADataModule(TorchvisionImageDataModule):
    """CelebA aligned faces (Liu et al. 2015) as 3×64×64 ``uint8``: centre crop ``crop_size`` (160) then resize.

    Splits (the official ``list_eval_partition.txt``): train 162,770, valid 19,867, test 19,962, all 202,599.
    Unlabelled (``num_classes = 0``): the 40 binary attributes are kept in ``self.attributes`` ``(N, 40)`` int64 for
    whoever wants them.

    Files: ``{root}/celeba/img_align_celeba/*.jpg`` plus the five txt files of the official release.

    Args:
        crop_size: side of the centred square cut from the 178×218 aligned image before resizing (see module doc).
        cache: keep the processed tensor in ``{root}/celeba/ganbench_cache/`` and reuse it.
        num_threads: threads decoding JPEGs (PIL releases the GIL while decoding).

    Raises:
        DatasetMissingError: at ``setup()`` when the images or txt files are absent or fail torchvision's md5 check.
    """

    name = "celeba"
    dims = (3, 64, 64)
    num_classes = 0
    folder = "celeba"
    torchvision_class: ClassVar[str] = "CelebA"
    splits: ClassVar[tuple[str, ...]] = ("train", "valid", "test", "all")
    resolution: ClassVar[int] = 64

    def __init__(self, batch_size: int = 64, seed: int = 0, on_device: bool = False, root: Optional[str] = None,
                 download: bool = False, split: str = "train", reference_split: Optional[str] = None,
                 crop_size: int = 160, cache: bool = True, num_threads: int = 2, hflip: bool = False) -> None:
        super().__init__(batch_size=batch_size, seed=seed, on_device=on_device, root=root, download=download,
                         split=split, reference_split=reference_split, hflip=hflip)
        if not 64 <= crop_size <= 178:
            raise ValueError(f"crop_size must be in 64..178 (the aligned images are 178 wide), got {crop_size}")
        if num_threads < 1:
            raise ValueError(f"num_threads must be >= 1, got {num_threads}")
        self.crop_size, self.cache, self.num_threads = crop_size, cache, num_threads
        self.attributes: Tensor | None = None

    def required_files(self) -> list[str]:
        return ["img_align_celeba/", *CELEBA_TXT]

    def download_command(self) -> str:
        return (f"pip install gdown && python -c \"from torchvision.datasets import CelebA; "
                f"CelebA('{self.root.resolve()}', split='all', download=True)\"\n"
                f"  (Google Drive often refuses with a quota error; then download img_align_celeba.zip and the five "
                f"txt files from https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html into {self.directory.resolve()} "
                f"and unzip the zip there)")

    def crop_and_resize(self, img) -> Tensor:
        """PIL image -> ``uint8`` (3, 64, 64): centre square of side ``crop_size``, bilinear+antialias resize."""
        import torchvision.transforms.functional as TF
        from torchvision.transforms import InterpolationMode

        img = TF.center_crop(img.convert("RGB"), [self.crop_size, self.crop_size])
        img = TF.resize(img, [self.resolution, self.resolution], interpolation=InterpolationMode.BILINEAR,
                        antialias=True)
        return TF.pil_to_tensor(img)

    def _cache_path(self, split: str, n: int):
        return self.directory / "ganbench_cache" / f"{split}_n{n}_crop{self.crop_size}_{self.resolution}.pt"

    def load_split(self, split: str) -> tuple[Tensor, None]:
        from torchvision.datasets import CelebA

        ds = self.open_torchvision(lambda download: CelebA(str(self.root), split=split, target_type=[],
                                                           download=download))
        n = len(ds.filename)
        self.attributes = ds.attr.long()
        path = self._cache_path(split, n)
        if self.cache and path.exists():
            return torch.load(path, weights_only=True), None
        x = torch.empty((n, 3, self.resolution, self.resolution), dtype=torch.uint8)

        def fill(chunk: range) -> None:
            for i in chunk:
                img, _ = ds[i]                        # torchvision opens img_align_celeba/<filename>
                x[i] = self.crop_and_resize(img)
                img.close()

        step = -(-n // self.num_threads)
        with ThreadPoolExecutor(self.num_threads) as pool:
            list(pool.map(fill, [range(s, min(s + step, n)) for s in range(0, n, step)]))
        if self.cache:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".tmp{os.getpid()}")
            torch.save(x, tmp)
            os.replace(tmp, path)                     # atomic: a killed run leaves no half-written cache
        return x, None

    def describe(self) -> dict:
        return {**super().describe(), "crop": f"center {self.crop_size}x{self.crop_size} of 178x218, resize "
                f"{self.resolution}x{self.resolution} bilinear+antialias"}
