"""A textbook DCGAN, written separately from ``models/``, against GANBench's ``arch=dcgan`` on MNIST-format digits.

The textbook side is Radford et al. (2016) as the PyTorch DCGAN example writes it (pytorch/examples
``dcgan/main.py``), at 28×28: its own generator (``ConvTranspose2d(z, 128, 7)`` -> BN -> ReLU -> ``ConvTranspose2d
(128, 64, 4, 2, 1)`` -> BN -> ReLU -> ``ConvTranspose2d(64, 1, 4, 2, 1)`` -> tanh) and discriminator (``Conv2d(1, 64, 4,
2, 1)`` -> LeakyReLU 0.2 -> ``Conv2d(64, 128, 4, 2, 1)`` -> BN -> LeakyReLU 0.2 -> ``Conv2d(128, 1, 7)``), the example's
``weights_init`` (conv N(0, 0.02), BN scale N(1, 0.02), shift 0), z ~ N(0, I_100), Adam 2e-4 with β = (0.5, 0.999),
the non-saturating loss with ``BCEWithLogitsLoss``, one D step (real batch, then the detached fake batch) and one G
step on the same fake batch per iteration, batches of 64 reshuffled every epoch. Nothing is imported from
``models/``; both sides are scored by the same call, :func:`benchmark.score.registry.evaluate` of ``domain_fd``
on the same ``mnist`` datamodule (its domain classifier, 2,500 generated images, the training split as reference).

The data are scikit-learn's 1,797 8×8 digits, upsampled bilinearly to 28×28 and written as the four MNIST IDX
files (train and t10k both hold all of them) under ``ROOT/MNIST/raw``, the layout the ``mnist`` datamodule reads.

Run (one CPU thread each, both at once)::

    python -m benchmark.perf.dcgan_reference write-data --root /tmp/digits-mnist
    GANBENCH_DATA=/tmp/digits-mnist nice python -m benchmark.perf.dcgan_reference textbook --iterations 1500 \\
        --seed 0 --threads 1 --json /tmp/textbook.json
    GANBENCH_DATA=/tmp/digits-mnist nice python -m benchmark run --variant nsgan --data mnist --arch dcgan \\
        --dcgan-fc 0 --iterations 1500 --batch-size 64 --lr-g 2e-4 --lr-d 2e-4 --beta1 0.5 --seed 0 \\
        --threads 1 --metrics domain_fd --results-dir /tmp/ganbench-dcgan --wandb disabled

Measured (2-core CPU shared with other jobs, 1 thread each, 1,500 iterations, batch 64; domain_fd, lower is
better; GANBench sampled in eval mode, the textbook G both ways). The GANBench row is the network without FC
layers that was the 28 px default until issue 28 (``dcgan_fc=0`` now; the default is InfoGAN's, below):

    =====================================================  ===========  ===========
    network                                                 seed 0       seed 1
    =====================================================  ===========  ===========
    GANBench ``arch=dcgan dcgan_fc=0`` (no FC layers)       42.28        37.53
    textbook DCGAN, G sampled in train mode / eval mode     71.01/69.90  65.46/64.49
    GANBench's previous ``arch=dcgan`` (main 5c8edfb: no BN
    in D, PyTorch default init, z 64)                      80.44        -
    textbook with D's loss halved (GANBench's π = ½ weights) 72.15/71.12  -
    =====================================================  ===========  ===========

A second reference, ``--net infogan``, is the published MNIST network (Chen et al. 2016, Appendix C.1, Table 1;
the same as Radford et al.'s own MNIST code, and the one Lucic et al. 2018 train on MNIST and Fashion-MNIST with
Google's compare_gan): G FC 1024 -> FC 128·7·7 -> 64@14×14 -> 1@28×28, D 64@14 -> 128@7 -> FC 1024 -> 1, batch
norm per unit after each FC layer. Since issue 28 it is GANBench's 28 px default (``dcgan_fc`` unset resolves to
1024 there, :data:`models.networks.PUBLISHED_DCGAN_FC`); given the same weights the two compute the same function
(``tests/models/test_networks.py``). The equal-budget comparison (1,500 iterations, batch 64, Adam 2e-4/β1 0.5,
1 thread each, two runs at a time on the 2-core CPU, about 9 minutes each; data written by ``write-data`` as above)::

    GANBENCH_DATA=/tmp/digits-mnist python -m benchmark.perf.dcgan_reference textbook --net infogan \\
        --iterations 1500 --seed 0 --threads 1 --json /tmp/infogan.json
    GANBENCH_DATA=/tmp/digits-mnist python -m benchmark run --variant nsgan --data mnist --arch dcgan \\
        --iterations 1500 --batch-size 64 --lr-g 2e-4 --lr-d 2e-4 --beta1 0.5 --seed 0 \\
        --threads 1 --metrics domain_fd --results-dir /tmp/ganbench-infogan --wandb disabled

Measured 2026-12-07, seeds 0-4 (domain_fd, lower is better; GANBench samples in eval mode, the reference both ways):

    ============================================================  =====  =====  =====  =====  =====  ======
    network                                                        s0     s1     s2     s3     s4     median
    ============================================================  =====  =====  =====  =====  =====  ======
    GANBench ``arch=dcgan`` (the 28 px default, dcgan_fc 1024)    14.23  18.17  12.78  14.52  11.88  14.23
    InfoGAN's network, G sampled in train mode                    13.54   9.93  12.71  13.73  12.60  12.71
    InfoGAN's network, G sampled in eval mode                     15.66   9.87  20.37  19.90  14.09  15.66
    ============================================================  =====  =====  =====  =====  =====  ======

GANBench's median is 12 % above the reference sampled as its own code samples (train mode; means 14.32 vs 12.50,
14.6 %) and 9 % below it sampled in eval mode, so the default is within 15 % of the published network at equal
budget and seeds; the seed-to-seed spread (9.9-20.4 for the same network) is as large as the difference.

GANBench's narrower net (``dcgan_fc=0``) scored 40 % below (better than) the textbook DCGAN of the same widths at
both seeds, so it is not within 15 % of it in either direction; the previous net was 13 % above the textbook at
seed 0 (80.4 vs 71.0). The halved-loss row rules out the one deliberate difference in the loss (Adam is
invariant to the loss scale up to its ε); the remaining differences (bias terms in D's first and last layers,
data order, random streams) were not isolated.
"""
from __future__ import annotations

import argparse
import json
import os
import struct
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


# ------------------------------------------------------------------------------------------------------- data
def _write_idx(path: Path, array: np.ndarray) -> None:
    """An uncompressed IDX file of uint8 data (LeCun et al.): 0x00 0x00 0x08 ndim, dims as big-endian int32."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    with open(path, "wb") as f:
        f.write(struct.pack(">BBBB", 0, 0, 0x08, array.ndim))
        f.write(struct.pack(f">{array.ndim}I", *array.shape))
        f.write(array.tobytes())


def digits_as_mnist(root: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Write sklearn's 8×8 digits upsampled to 28×28 ``uint8`` as ``root/MNIST/raw/*-ubyte``; return (x, y)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x8 = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0          # (N, 1, 8, 8) in [0, 1]
    x28 = F.interpolate(x8, size=(28, 28), mode="bilinear", align_corners=False).clamp(0, 1)
    x = (x28.squeeze(1).numpy() * 255.0).round().astype(np.uint8)
    y = digits.target.astype(np.uint8)
    raw = Path(root) / "MNIST" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    for prefix in ("train", "t10k"):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", x)
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", y)
    return x, y


# ------------------------------------------------------------------------------------------ textbook DCGAN
class TextbookGenerator(nn.Module):
    def __init__(self, nz: int = 100, ngf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 7, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),  # 7×7
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),     # 14×14
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), nn.Tanh())                                  # 28×28

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], -1, 1, 1))


class TextbookDiscriminator(nn.Module):
    def __init__(self, ndf: int = 64, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, ndf, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, inplace=True),                      # 14×14
            nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2),
            nn.LeakyReLU(0.2, inplace=True),                                                               # 7×7
            nn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False))                                                    # 1×1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


class InfoGANGenerator(nn.Module):
    """The MNIST generator of InfoGAN (Chen et al. 2016, Appendix C.1, Table 1), the network Lucic et al. 2018 use
    for MNIST and Fashion-MNIST (compare_gan's ``AbstractGAN.generator``): FC 1024, BN, ReLU -> FC 7·7·128, BN,
    ReLU -> 4×4 up-convolution 64 (stride 2), BN, ReLU -> 4×4 up-convolution 1 (stride 2) -> tanh (images in
    [-1, 1] here; their sigmoid maps to [0, 1])."""

    def __init__(self, nz: int = 100, nc: int = 1) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.Linear(nz, 1024, bias=False), nn.BatchNorm1d(1024), nn.ReLU(True),
                                nn.Linear(1024, 128 * 7 * 7, bias=False), nn.BatchNorm1d(128 * 7 * 7), nn.ReLU(True))
        self.conv = nn.Sequential(
            nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),          # 14×14
            nn.ConvTranspose2d(64, nc, 4, 2, 1), nn.Tanh())                                               # 28×28

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.conv(self.fc(z.view(z.shape[0], -1)).view(-1, 128, 7, 7))


class InfoGANDiscriminator(nn.Module):
    """InfoGAN's MNIST discriminator (Chen et al. 2016, Table 1; compare_gan's ``AbstractGAN.discriminator``):
    4×4 conv 64 (stride 2), lReLU 0.2 -> 4×4 conv 128 (stride 2), BN, lReLU -> FC 1024, BN, lReLU -> FC 1."""

    def __init__(self, nc: int = 1) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv2d(nc, 64, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True),                                  # 14×14
            nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, inplace=True),  # 7×7
            nn.Flatten(), nn.Linear(128 * 7 * 7, 1024, bias=False), nn.BatchNorm1d(1024),
            nn.LeakyReLU(0.2, inplace=True), nn.Linear(1024, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x).view(-1)


NETWORKS = {"radford": (TextbookGenerator, TextbookDiscriminator), "infogan": (InfoGANGenerator, InfoGANDiscriminator)}


def weights_init(m: nn.Module) -> None:
    """pytorch/examples dcgan ``weights_init``."""
    name = m.__class__.__name__
    if name.find("Conv") != -1 or name == "Linear":          # Linear: the InfoGAN network's FC layers, as compare_gan
        nn.init.normal_(m.weight.data, 0.0, 0.02)
    elif name.find("BatchNorm") != -1:
        nn.init.normal_(m.weight.data, 1.0, 0.02)
        nn.init.constant_(m.bias.data, 0)


def train_textbook(images: torch.Tensor, iterations: int, *, seed: int = 0, batch_size: int = 64, nz: int = 100,
                   lr: float = 2e-4, beta1: float = 0.5, net: str = "radford") -> nn.Module:
    """Train the textbook DCGAN (``net="radford"``) or InfoGAN's MNIST network (``"infogan"``) on ``images`` (uint8
    ``(N, 1, 28, 28)``) for ``iterations`` D+G steps."""
    torch.manual_seed(seed)
    data = images.float().div(127.5).sub(1.0)
    g_cls, d_cls = NETWORKS[net]
    net_g, net_d = g_cls(nz), d_cls()
    net_g.apply(weights_init)
    net_d.apply(weights_init)
    criterion = nn.BCEWithLogitsLoss()
    opt_d = torch.optim.Adam(net_d.parameters(), lr=lr, betas=(beta1, 0.999))
    opt_g = torch.optim.Adam(net_g.parameters(), lr=lr, betas=(beta1, 0.999))
    ones, zeros = torch.ones(batch_size), torch.zeros(batch_size)
    done = 0
    while done < iterations:
        order = torch.randperm(data.shape[0])
        for i in range(0, data.shape[0] - batch_size + 1, batch_size):         # drop_last, as the example's loader
            real = data[order[i:i + batch_size]]
            net_d.zero_grad()
            err_real = criterion(net_d(real), ones)
            fake = net_g(torch.randn(batch_size, nz))
            err_fake = criterion(net_d(fake.detach()), zeros)
            (err_real + err_fake).backward()
            opt_d.step()
            net_g.zero_grad()
            criterion(net_d(fake), ones).backward()                             # non-saturating G loss
            opt_g.step()
            done += 1
            if done >= iterations:
                break
    return net_g


def score_domain_fd(sample_fn, root: str | os.PathLike, seed: int = 0) -> float:
    """``domain_fd`` of ``sample_fn(n, labels) -> images in [-1, 1]`` on the ``mnist`` datamodule at ``root``:
    the same :func:`benchmark.score.registry.evaluate` call a GANBench run makes."""
    from benchmark.score import registry
    from datamodules.mnist import MNISTDataModule

    dm = MNISTDataModule(root=str(root), seed=seed)
    values, _ = registry.evaluate(["domain_fd"], sample_fn, dm, seed=seed)
    return values["domain_fd"]


def run_textbook(root: str | os.PathLike, iterations: int, seed: int = 0, net: str = "radford") -> dict:
    """Train on ``root``'s MNIST train split and score; the generator sampled as the example does (train mode,
    batch statistics) and in eval mode (running statistics, as GANBench samples)."""
    from datamodules.mnist import MNISTDataModule

    dm = MNISTDataModule(root=str(root), seed=seed)
    dm.setup()
    t0 = time.perf_counter()
    net_g = train_textbook(dm.train_x, iterations, seed=seed, net=net)
    seconds = time.perf_counter() - t0
    out = {"network": net, "iterations": iterations, "seed": seed, "train_seconds": round(seconds, 1)}
    for mode in ("train", "eval"):
        net_g.train(mode == "train")

        @torch.no_grad()
        def sample(n: int, labels=None) -> torch.Tensor:
            torch.manual_seed(seed + 1)
            return torch.cat([net_g(torch.randn(min(64, n - i), 100)) for i in range(0, n, 64)])

        out[f"domain_fd_{mode}_mode"] = score_domain_fd(sample, root, seed)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmark.perf.dcgan_reference", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write-data", help="write sklearn digits as 28x28 MNIST IDX files under ROOT/MNIST/raw")
    w.add_argument("--root", required=True)
    t = sub.add_parser("textbook", help="train and score the textbook DCGAN (reads $GANBENCH_DATA or --root)")
    t.add_argument("--root", default=os.environ.get("GANBENCH_DATA", ""))
    t.add_argument("--iterations", type=int, default=1500)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--json", default="")
    t.add_argument("--net", choices=sorted(NETWORKS), default="radford",
                   help="radford: pytorch/examples' DCGAN at 28 px; infogan: InfoGAN's MNIST network (Lucic et al.'s)")
    args = p.parse_args(argv)
    if args.command == "write-data":
        x, _ = digits_as_mnist(args.root)
        print(f"wrote {x.shape[0]} 28x28 digits to {Path(args.root) / 'MNIST' / 'raw'}")
        return 0
    if not args.root:
        p.error("textbook needs --root or $GANBENCH_DATA (a directory holding MNIST/raw)")
    torch.set_num_threads(args.threads)
    result = run_textbook(args.root, args.iterations, args.seed, args.net)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
