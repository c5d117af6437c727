"""DiffAugment (Zhao et al. 2020, "Differentiable Augmentation for Data-Efficient GAN Training").

The same random, differentiable transformations T are applied to real and generated images before D, in both
the D step (D sees T(x) and T(G(z))) and the G step (G is trained through T(G(z))), so D cannot tell the two
apart by the augmentation and G's gradients pass through it. The three policies and their parameters are the
authors' (``DiffAugment_pytorch.py``): ``color`` (brightness ±0.5, saturation ×[0, 2], contrast ×[0.5, 1.5]),
``translation`` (shift by up to 1/8 of the side, zero padding) and ``cutout`` (a zeroed square of half the side).

Every draw comes from torch's generator on the batch's device (deterministic given the run's seed); nothing
reads a value back to the host, and nothing is modified in place, so the functions also vectorise.
"""
from __future__ import annotations

import torch
from torch import Tensor

from .config import DIFFAUGMENT_POLICIES


def _per_sample(x: Tensor) -> Tensor:
    return torch.rand(x.shape[0], 1, 1, 1, device=x.device, dtype=x.dtype)


def brightness(x: Tensor) -> Tensor:
    # x + U[-0.5, 0.5) per sample
    return x + (_per_sample(x) - 0.5)


def saturation(x: Tensor) -> Tensor:
    # (x - mean over channels)·U[0, 2) + mean over channels (the identity on one channel)
    mean = x.mean(dim=1, keepdim=True)
    return (x - mean) * (_per_sample(x) * 2) + mean


def contrast(x: Tensor) -> Tensor:
    # (x - mean over C, H, W)·U[0.5, 1.5) + mean
    mean = x.mean(dim=[1, 2, 3], keepdim=True)
    return (x - mean) * (_per_sample(x) + 0.5) + mean


def translation(x: Tensor, ratio: float = 0.125) -> Tensor:
    """Shift each image by integers in [-s, s] (s = ⌊side·ratio + ½⌋) per axis, filling with zeros."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    tx = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    ty = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gb, gx, gy = torch.meshgrid(torch.arange(b, device=x.device), torch.arange(h, device=x.device),
                                torch.arange(w, device=x.device), indexing="ij")
    gx = (gx + tx + 1).clamp(0, h + 1)
    gy = (gy + ty + 1).clamp(0, w + 1)
    padded = torch.nn.functional.pad(x, [1, 1, 1, 1])              # the zero border the shifts read from
    return padded.permute(0, 2, 3, 1)[gb, gx, gy].permute(0, 3, 1, 2)


def cutout(x: Tensor, ratio: float = 0.5) -> Tensor:
    """Zero one square of ⌊side·ratio + ½⌋ pixels per image at a uniformly drawn centre (clipped at the border)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ox = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device) - ch // 2     # first row of the square
    oy = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device) - cw // 2
    rows = torch.arange(h, device=x.device).view(1, h, 1)
    cols = torch.arange(w, device=x.device).view(1, 1, w)
    inside = (rows >= ox) & (rows < ox + ch) & (cols >= oy) & (cols < oy + cw)
    return x * (~inside).to(x.dtype).unsqueeze(1)


POLICIES = {"color": (brightness, saturation, contrast), "translation": (translation,), "cutout": (cutout,)}
assert tuple(POLICIES) == DIFFAUGMENT_POLICIES


def parse_policy(policy: str) -> tuple[str, ...]:
    """``"color,translation"`` -> ``("color", "translation")`` (validated by :class:`models.config.GANConfig`)."""
    return tuple(p.strip() for p in policy.split(",") if p.strip())


def diff_augment(x: Tensor, policy: tuple[str, ...] | str) -> Tensor:
    """Apply the policies in the order given (Zhao et al.'s ``DiffAugment(x, policy)``) to images ``(B, C, H, W)``."""
    parts = parse_policy(policy) if isinstance(policy, str) else policy
    for name in parts:
        for fn in POLICIES[name]:
            x = fn(x)
    return x
