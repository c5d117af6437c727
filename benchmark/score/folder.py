"""Score a folder (or tensor) of generated images against a dataset split or another folder.

``python -m benchmark evaluate --images DIR --reference DATASET_OR_DIR --metrics fid,kid,... [--json FILE]``
prints every score with its protocol; ``--json`` writes ``{"values", "protocols", "images"}`` atomically.

Generated images are read at their own resolution (all files must share it; nothing is resized before the
metric's own, recorded, resize). A folder reference is read with ``ImageFolderDataModule`` at that resolution and
channel count.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import Tensor

from ..commands import add_evaluate_parser as add_light_evaluate_parser
from ..io import atomic_write_text
from .registry import evaluate, groups_for



def decoded_bytes_limit() -> int:
    """Memory the decoded images may take (uint8 tensor plus its float32 copy): ``$GANBENCH_MAX_IMAGE_BYTES``,
    else half the machine's physical memory."""
    env = os.environ.get("GANBENCH_MAX_IMAGE_BYTES")
    if env:
        try:
            return int(float(env))
        except ValueError:
            raise ValueError(f"GANBENCH_MAX_IMAGE_BYTES={env!r} is not a number of bytes") from None
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") // 2
    except (ValueError, OSError, AttributeError):                 # not POSIX: a fixed, generous limit
        return 16 << 30


IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".pgm")


class BadImageError(ValueError):
    """An image file that cannot be read (corrupt, truncated, not an image); the message names the file."""


@dataclass
class LoadedImages:
    """The images read from a folder and the files skipped as unreadable (``skip_bad=True``)."""

    images: Tensor
    skipped: list[str] = field(default_factory=list)


def image_files(path: str | os.PathLike) -> list[Path]:
    """Every image file below ``path``, sorted (``FileNotFoundError`` when there is none)."""
    files = sorted(f for f in Path(path).rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f"no images ({' '.join(IMAGE_EXTENSIONS)}) under {path}")
    return files


def _bad(f: Path, e: BaseException) -> BadImageError:
    return BadImageError(f"cannot read image {f} ({type(e).__name__}: {e}): fix or remove it, or pass "
                         "--skip-bad-images to score the others")


def read_images(path: str | os.PathLike, *, skip_bad: bool = False) -> LoadedImages:
    """Every image below ``path`` (sorted) as ``uint8`` ``(N, C, H, W)``; C = 1 if all are grayscale, else 3.

    Streams: one file is open at a time (two passes: headers for mode and size, then decoding into one
    pre-allocated tensor), so a folder of 10,000 images needs one file descriptor, not 10,000.

    Raises:
        FileNotFoundError: no image under ``path`` (or, with ``skip_bad``, no readable one).
        BadImageError: a file that is not a readable image (corrupt, truncated), named in the message; with
            ``skip_bad`` such files are left out and listed in ``LoadedImages.skipped`` instead.
        ValueError: images of different sizes.
    """
    from PIL import Image

    files = image_files(path)
    skipped: list[str] = []
    headers: list[tuple[Path, str, tuple[int, int]]] = []
    for f in files:                                      # pass 1: headers only
        try:
            with Image.open(f) as im:
                headers.append((f, im.mode, im.size))
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
            if not skip_bad:
                raise _bad(f, e) from None
            skipped.append(str(f))
    if not headers:
        raise FileNotFoundError(f"no readable image under {path} ({len(skipped)} unreadable)")
    from datamodules.image_folder import GRAY_MODES, to_8bit

    gray = all(mode in GRAY_MODES for _, mode, _ in headers)
    first, _, size = headers[0]
    for f, _, other in headers:
        if other != size:
            raise ValueError(f"{f} is {other[0]}x{other[1]}, {first} is {size[0]}x{size[1]}: generated images "
                             "must share one size")
    need = 5 * len(headers) * (1 if gray else 3) * size[0] * size[1]     # uint8, then float32 for scoring
    limit = decoded_bytes_limit()
    if need > limit:                                     # from the headers, before any memory is allocated
        raise ValueError(f"the {len(headers)} images under {path} are {size[0]}x{size[1]}: decoded (uint8 and "
                         f"float) they need {need / 2**30:.3g} GiB, over the {limit / 2**30:.3g} GiB limit (half "
                         "the memory, or $GANBENCH_MAX_IMAGE_BYTES); score fewer or smaller images")
    out = torch.empty((len(headers), 1 if gray else 3, size[1], size[0]), dtype=torch.uint8)
    kept = 0
    for f, _, _ in headers:                              # pass 2: decode, one file at a time
        try:
            with Image.open(f) as im:
                a = np.asarray(to_8bit(im, "L" if gray else "RGB"))     # 16-bit scaled, not clipped
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:   # truncated data
            if not skip_bad:
                raise _bad(f, e) from None
            skipped.append(str(f))
            continue
        t = torch.from_numpy(a.copy())
        out[kept] = t.unsqueeze(0) if gray else t.permute(2, 0, 1)
        kept += 1
    if not kept:
        raise FileNotFoundError(f"no readable image under {path} ({len(skipped)} unreadable)")
    return LoadedImages(out[:kept].contiguous() if kept < len(headers) else out, sorted(skipped))


def load_image_folder(path: str | os.PathLike, *, skip_bad: bool = False) -> Tensor:
    """:func:`read_images`' tensor: every image below ``path`` as ``uint8`` ``(N, C, H, W)``."""
    return read_images(path, skip_bad=skip_bad).images


def to_unit_images(images: Tensor | str | os.PathLike) -> Tensor:
    """A folder, a ``uint8`` tensor or a float tensor in [-1, 1] → float ``(N, C, H, W)`` in [-1, 1]."""
    if not isinstance(images, Tensor):
        images = load_image_folder(images)
    if images.dim() != 4:
        raise ValueError(f"expected (N, C, H, W) images, got {tuple(images.shape)}")
    return images.float().div(127.5).sub(1.0) if images.dtype == torch.uint8 else images.float()


def reference_datamodule(reference: Any, like: Tensor):
    """A datamodule for ``reference``: an instance, a registered dataset name, or a folder (read like ``like``)."""
    from datamodules import GANDataModule, get_datamodule

    if isinstance(reference, GANDataModule):
        return reference
    ref = str(reference)
    if Path(ref).expanduser().is_dir():
        from datamodules.image_folder import ImageFolderDataModule

        if like.shape[-1] != like.shape[-2]:
            raise ValueError(f"folder references are square; generated images are {tuple(like.shape[-2:])}")
        return ImageFolderDataModule(path=str(Path(ref).expanduser().resolve()), resolution=int(like.shape[-1]),
                                     channels=int(like.shape[1]))
    return get_datamodule(ref)()


def configured_groups(names: Sequence[str], *, num_real: int | None = None, weights_path: str | None = None,
                      cache_root: str | None = None, device: str | None = None) -> list:
    """The metric groups computing ``names``, re-built with the given options where they take them."""
    return [g.with_options(num_real=num_real, weights_path=weights_path, cache_root=cache_root, device=device)
            for g in groups_for(list(names))]


def evaluate_images(images: Tensor | str | os.PathLike, reference: Any, metrics: Sequence[str], *, seed: int = 0,
                    num_real: int | None = None, weights_path: str | None = None, cache_root: str | None = None,
                    device: str | None = None) -> dict:
    """Score generated ``images`` against ``reference`` on ``metrics``.

    Args:
        images: a folder of PNG/JPG files, or ``(N, C, H, W)`` ``uint8`` / float in [-1, 1].
        reference: a dataset name (its reference split), a folder, or a datamodule instance.
        metrics: registered metric names (``fid``, ``kid``, ``is``, ``precision``, ``domain_fd``, …).
        num_real: real images for the reference statistics (group default otherwise).
        weights_path, cache_root, device: Inception weights file, cache root, device (see ``metrics.inception``).

    Returns ``{"values": {name: float | None}, "protocols": {name: dict}, "images": {...}}``; every generated
    image is scored (the groups' ``num_samples`` only applies when sampling from a model).

    Raises:
        KeyError: unknown metric or dataset; FileNotFoundError: no images.
    """
    fake = to_unit_images(images)
    dm = reference_datamodule(reference, fake)
    groups = configured_groups(metrics, num_real=num_real, weights_path=weights_path, cache_root=cache_root,
                               device=device)
    values, protocols = evaluate(metrics, lambda n, labels: fake, dm, seed=seed, groups=groups)
    source = str(images) if not isinstance(images, Tensor) else "tensor"
    return {"values": {m: values[m] for m in metrics}, "protocols": {m: protocols[m] for m in metrics},
            "images": {"source": source, "count": int(fake.shape[0]), "shape": list(fake.shape[1:])}}


FID_MIN_SAMPLES = 2048       # FID below this many images per side is strongly biased (Chong & Forsyth 2020)


def small_sample_warnings(result: dict) -> list[str]:
    """A warning per FID computed on fewer than :data:`FID_MIN_SAMPLES` generated or real images: its bias
    grows as the sample shrinks, so such a FID is comparable only with one of the same sizes; KID is unbiased."""
    out = []
    for name, value in result["values"].items():
        p = result["protocols"].get(name) or {}
        if value is None or not name.endswith("fid"):
            continue
        n_g, n_r = p.get("num_generated"), p.get("num_real")
        small = [f"{n} {side}" for n, side in ((n_g, "generated"), (n_r, "real")) if n and n < FID_MIN_SAMPLES]
        if small:
            out.append(f"warning: {name} on {' and '.join(small)} images (< {FID_MIN_SAMPLES:,} per side) is biased "
                       "upwards and depends on the sample size: compare it only at equal sizes, or use kid "
                       "(unbiased for small samples)")
    return out


def format_scores(result: dict) -> str:
    """Human-readable scores: every value first (one line each), then each score's protocol."""
    lines = []
    for name, value in result["values"].items():
        shown = "unavailable" if value is None else f"{value:.6g}"
        lines.append(f"{name:>15s} = {shown}")
    lines.append("")
    lines.append("protocol:")
    for name, value in result["values"].items():
        p = result["protocols"][name]
        lines.append(f"  {name}:")
        if value is None and "reason" in p:
            lines.append(f"{'':>17s}reason: {p['reason']}")
        for k in sorted(p):
            if k not in ("metric", "reason"):
                lines.append(f"{'':>17s}{k}: {p[k]}")
    return "\n".join(lines)


def write_json(result: dict, path: str | os.PathLike) -> None:
    """Write ``result`` as JSON atomically (:func:`benchmark.io.atomic_write_text`)."""
    atomic_write_text(path, json.dumps(result, indent=2, default=str))


def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Add the ``evaluate`` sub-command to an ``argparse`` sub-parsers object; its handler is :func:`run_evaluate`."""
    p = add_light_evaluate_parser(subparsers)
    p.set_defaults(func=run_evaluate)
    return p


def check_evaluate_args(args: argparse.Namespace) -> None:
    """``ValueError`` (exit 2 from the CLI) for a ``--num-real`` below 1 (a negative count would slice from the
    end) and a ``--json`` path that cannot be written (a directory, a missing or read-only folder)."""
    if args.num_real is not None and args.num_real < 1:
        raise ValueError(f"--num-real {args.num_real} must be >= 1 (or left out for the metric's default)")
    if args.json:
        p = Path(args.json)
        if p.is_dir():
            raise ValueError(f"--json {args.json!r} is a directory: give a file name, e.g. {p / 'scores.json'}")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
            raise ValueError(f"--json {args.json!r}: folder {str(parent)!r} does not exist or is not writable; "
                             "choose another path")


def run_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``evaluate``: score, print, optionally write JSON; returns the exit code."""
    check_evaluate_args(args)                  # bad input fails now, not after minutes of scoring
    loaded = read_images(args.images, skip_bad=getattr(args, "skip_bad_images", False))
    if loaded.skipped:
        print(f"skipped {len(loaded.skipped)} unreadable image(s) (--skip-bad-images), e.g. {loaded.skipped[0]}",
              file=sys.stderr)
    fake = to_unit_images(loaded.images)
    dm = reference_datamodule(args.reference, fake)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else list(dm.metrics)
    if not metrics:
        raise SystemExit(f"no metrics given and {args.reference!r} declares none: pass --metrics")
    result = evaluate_images(fake, dm, metrics, seed=args.seed, num_real=args.num_real,
                             weights_path=args.inception_weights, cache_root=args.cache_dir, device=args.device)
    result["images"]["source"] = str(args.images)
    if getattr(args, "skip_bad_images", False):
        result["images"]["skipped_unreadable"] = len(loaded.skipped)
        result["images"]["skipped_files"] = loaded.skipped
        for p in result["protocols"].values():         # the scores are of the readable images only
            p["images_skipped_unreadable"] = len(loaded.skipped)
    print(format_scores(result))
    for line in small_sample_warnings(result):
        print(line, file=sys.stderr)
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
