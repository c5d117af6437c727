"""Writers of tiny datasets in each dataset's exact on-disk format (no network), for the vision datamodule tests.

Each writer follows the published format, not our reader: MNIST's IDX (big-endian int32 header, magic 0x0803 for
images and 0x0801 for labels), CIFAR-10's pickled dicts with ``data`` rows of 3072 bytes (R plane, G plane, B
plane, each 32×32 row-major), CelebA's 178×218 JPEGs and its five space-separated txt files.
"""
from __future__ import annotations

import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

CELEBA_ATTRS = ("5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose Black_Hair "
                "Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee Gray_Hair "
                "Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard Oval_Face "
                "Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair Wavy_Hair "
                "Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young").split()


# -- MNIST / Fashion-MNIST ------------------------------------------------------------------------------------
def write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of ``uint8`` data: magic ``0x00 0x00 0x08 ndim``, then each dim as big-endian int32."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def mnist_like_digits(n: int, offset: int = 0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``n`` distinct 28×28 ``uint8`` images and labels: image ``i`` has pixel (0, 0) = ``(offset + i) % 256`` and
    pixel (0, 1) = ``(offset + i) // 256`` (its identity), a bright block whose column encodes its label, noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 10, size=n).astype(np.uint8)
    x = rng.integers(0, 60, size=(n, 28, 28)).astype(np.uint8)
    for i in range(n):
        x[i, 10:18, 2 + 2 * y[i]:4 + 2 * y[i]] = 255
        x[i, 0, 0], x[i, 0, 1] = (offset + i) % 256, (offset + i) // 256
    return x, y


def write_mnist(root: Path, folder: str = "MNIST", n_train: int = 64, n_test: int = 32
                ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{root}/{folder}/raw/`` with the four IDX files; returns ``{"train": (x, y), "test": (x, y)}``."""
    raw = Path(root) / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    train = mnist_like_digits(n_train, offset=0, seed=1)
    test = mnist_like_digits(n_test, offset=n_train, seed=2)
    for prefix, (x, y) in (("train", train), ("t10k", test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    return {"train": train, "test": test}


# -- CIFAR-10 -----------------------------------------------------------------------------------------------
def cifar_like_images(n: int, offset: int, seed: int) -> tuple[np.ndarray, list[int]]:
    """``(n, 3, 32, 32)`` ``uint8`` with channel-, row- and column-dependent values, and labels 0..9."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 3, 32, 32)).astype(np.uint8)
    x[:, 0, 0, 0] = (np.arange(n) + offset) % 256          # identity in the R plane's first pixel
    x[:, 1, :, :] = np.arange(32, dtype=np.uint8)[None, :, None] * 4   # G depends on the row only
    x[:, 2, :, :] = np.arange(32, dtype=np.uint8)[None, None, :] * 8   # B depends on the column only
    return x, rng.integers(0, 10, size=n).tolist()


def write_cifar10(root: Path, n_per_batch: int = 8, n_test: int = 10) -> dict[str, tuple[np.ndarray, list[int]]]:
    """``{root}/cifar-10-batches-py/`` with ``data_batch_1..5``, ``test_batch``, ``batches.meta``."""
    d = Path(root) / "cifar-10-batches-py"
    d.mkdir(parents=True, exist_ok=True)
    xs, ys = [], []
    for b in range(1, 6):
        x, y = cifar_like_images(n_per_batch, offset=(b - 1) * n_per_batch, seed=b)
        xs.append(x), ys.extend(y)
        _pickle(d / f"data_batch_{b}", {"batch_label": f"training batch {b} of 5", "labels": y,
                                       "data": x.reshape(n_per_batch, 3072),
                                       "filenames": [f"img_{b}_{i}.png" for i in range(n_per_batch)]})
    xt, yt = cifar_like_images(n_test, offset=200, seed=9)
    _pickle(d / "test_batch", {"batch_label": "testing batch 1 of 1", "labels": yt, "data": xt.reshape(n_test, 3072),
                               "filenames": [f"test_{i}.png" for i in range(n_test)]})
    _pickle(d / "batches.meta", {"num_cases_per_batch": n_per_batch, "num_vis": 3072,
                                 "label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                                                 "horse", "ship", "truck"]})
    return {"train": (np.concatenate(xs), ys), "test": (xt, yt)}


def _pickle(path: Path, obj: dict) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


# -- CelebA -------------------------------------------------------------------------------------------------
def celeba_marker_image(marker: int = 80) -> np.ndarray:
    """A 218×178 (h×w) RGB aligned-face stand-in: red outside the centred 160×160 square (rows 29..188, columns
    9..168), black inside it, and a white ``marker``×``marker`` square at the image centre."""
    img = np.zeros((218, 178, 3), dtype=np.uint8)
    img[..., 0] = 255
    img[29:189, 9:169] = 0
    top, left = 109 - marker // 2, 89 - marker // 2
    img[top:top + marker, left:left + marker] = 255
    return img


def write_celeba(root: Path, partitions: list[int], image: np.ndarray | None = None) -> list[str]:
    """``{root}/celeba/`` with ``img_align_celeba/000001.jpg...`` (178×218) and the five txt files; ``partitions[i]``
    is image i's split (0 train, 1 valid, 2 test). Returns the file names."""
    d = Path(root) / "celeba"
    (d / "img_align_celeba").mkdir(parents=True, exist_ok=True)
    img = celeba_marker_image() if image is None else image
    names = [f"{i + 1:06d}.jpg" for i in range(len(partitions))]
    for name in names:
        Image.fromarray(img).save(d / "img_align_celeba" / name, quality=95)
    n = len(names)
    rng = np.random.default_rng(0)
    (d / "list_eval_partition.txt").write_text("".join(f"{f} {p}\n" for f, p in zip(names, partitions)))
    (d / "identity_CelebA.txt").write_text("".join(f"{f} {1000 + i}\n" for i, f in enumerate(names)))
    attrs = rng.choice([-1, 1], size=(n, 40))
    (d / "list_attr_celeba.txt").write_text(
        f"{n}\n" + " ".join(CELEBA_ATTRS) + " \n"
        + "".join(f"{f} " + " ".join(f"{a:2d}" for a in row) + "\n" for f, row in zip(names, attrs)))
    (d / "list_bbox_celeba.txt").write_text(
        f"{n}\nimage_id x_1 y_1 width height\n" + "".join(f"{f}    95  71 226 313\n" for f in names))
    (d / "list_landmarks_align_celeba.txt").write_text(
        f"{n}\nlefteye_x lefteye_y righteye_x righteye_y nose_x nose_y leftmouth_x leftmouth_y rightmouth_x "
        f"rightmouth_y\n" + "".join(f"{f}  69  109  106  113   77  142   73  152  108  154\n" for f in names))
    return names


def skip_md5(monkeypatch) -> None:
    """Tests only: torchvision md5-checks CIFAR-10's and CelebA's files against the real release, which fixtures
    cannot match; replace the check by an existence check in those two modules (users keep the md5 check)."""
    import os

    import torchvision.datasets.celeba as celeba
    import torchvision.datasets.cifar as cifar

    def exists_only(fpath, md5=None):
        return os.path.isfile(fpath)

    monkeypatch.setattr(cifar, "check_integrity", exists_only)
    monkeypatch.setattr(celeba, "check_integrity", exists_only)


# -- image folders --------------------------------------------------------------------------------------------
def write_image_folder(root: Path) -> Path:
    """A folder of mixed images: RGB and grayscale, PNG and JPEG, several sizes, nested, plus a non-image file.

    Layout (sorted order): ``cats/a.png`` (RGB 40×24: 6-pixel red bands at left and right, green between), ``cats/deep/b.JPG``
    (RGB 64×64 blue), ``dogs/c.png`` (grayscale 17×33, value 200), ``dogs/d.png`` (RGBA 32×32 white), and
    ``dogs/notes.txt``.
    """
    d = Path(root) / "my_images"
    (d / "cats" / "deep").mkdir(parents=True, exist_ok=True)
    (d / "dogs").mkdir(parents=True, exist_ok=True)
    a = np.zeros((24, 40, 3), dtype=np.uint8)
    a[:, :6, 0] = 255
    a[:, 34:, 0] = 255
    a[:, 6:34, 1] = 255
    Image.fromarray(a).save(d / "cats" / "a.png")
    b = np.zeros((64, 64, 3), dtype=np.uint8)
    b[..., 2] = 255
    Image.fromarray(b).save(d / "cats" / "deep" / "b.JPG", format="JPEG", quality=95)
    Image.fromarray(np.full((33, 17), 200, dtype=np.uint8)).save(d / "dogs" / "c.png")
    Image.fromarray(np.full((32, 32, 4), 255, dtype=np.uint8)).save(d / "dogs" / "d.png")
    (d / "dogs" / "notes.txt").write_text("not an image")
    return d
