"""Generated samples kept with a run, and their plots: a scatter for 2-D points (modes marked), an image grid for
images (Matplotlib's Agg backend). A leaf module: it imports nothing of the benchmark."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def image_grid(images: np.ndarray, nrow: int = 10) -> np.ndarray:
    """``(N, C, H, W)`` uint8 (or float in [-1, 1]) -> one ``(H', W', 3)`` uint8 grid with 1-pixel borders."""
    x = np.asarray(images)
    if x.dtype != np.uint8:
        x = np.clip(np.round((x + 1) * 127.5), 0, 255).astype(np.uint8)
    if x.shape[1] == 1:
        x = np.repeat(x, 3, axis=1)
    n, c, h, w = x.shape
    ncol = min(nrow, n)
    nr = int(np.ceil(n / ncol))
    grid = np.full((nr * (h + 1) + 1, ncol * (w + 1) + 1, 3), 40, dtype=np.uint8)
    for i in range(n):
        r, q = divmod(i, ncol)
        grid[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + q * (w + 1):1 + q * (w + 1) + w] = x[i].transpose(1, 2, 0)
    return grid


def save_sample_plot(samples: np.ndarray, kind: str, path: str | os.PathLike, modes: np.ndarray | None = None,
                     title: str = "") -> Path:
    """Write a PNG of ``samples`` (points ``(N, 2)`` or images ``(N, C, H, W)``) and return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "image":
        from PIL import Image

        grid = image_grid(samples[:100])
        scale = max(1, 256 // grid.shape[0])
        Image.fromarray(grid).resize((grid.shape[1] * scale, grid.shape[0] * scale), Image.NEAREST).save(path)
        return path
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    pts = np.asarray(samples, dtype=np.float32)
    ax.scatter(pts[:, 0], pts[:, 1], s=2, alpha=0.4, color="tab:blue", label="generated")
    if modes is not None:
        ax.scatter(modes[:, 0], modes[:, 1], s=30, marker="x", color="tab:red", label="modes")
        lim = float(np.abs(modes).max()) * 1.5
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_title(title, fontsize=8)
    ax.legend(loc="upper right", fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def keep_samples(samples, kind: str) -> np.ndarray:
    """Samples (a tensor in the data's range) as stored with a run: uint8 images or float32 points."""
    if kind == "image":
        from datamodules import unit_to_uint8

        return unit_to_uint8(samples).cpu().numpy()
    return samples.float().cpu().numpy()


def sample_image(samples: np.ndarray, kind: str, modes: np.ndarray | None = None, title: str = "") -> np.ndarray:
    """The sample plot of :func:`save_sample_plot` as a ``(H, W, 3)`` uint8 array.

    uint8 on purpose: W&B 0.31 converts float images by truncation, which turns a [0, 1] image black.
    """
    from PIL import Image


    with tempfile.TemporaryDirectory() as d:
        png = save_sample_plot(samples, kind, Path(d) / "samples.png", modes=modes, title=title)
        with Image.open(png) as im:
            return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()
