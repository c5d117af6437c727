"""``python -m benchmark evaluate --points FILE.npy --reference ring8``: score an ``(N, 2)`` array of generated
points against a 2-D mixture dataset with the metrics and protocol of a run.

A run scores each metric group's protocol count of generated points (2,500); so does this command: with more
points it scores the first ones, with fewer it scores them all and says the scores are not comparable with a
run's. Bad input (a missing or unreadable file, a pickled or non-numeric array, a shape other than ``(N, 2)``,
a NaN or infinite value, a dataset that is not a mixture) is a ``ValueError`` naming the file and the fix, raised
before anything is scored or written (the CLI prints it as one ``error:`` line, exit 2).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from datamodules import DATAMODULES, get_datamodule

from .folder import check_evaluate_args, format_scores, write_json
from .registry import check_supported, evaluate, sample_requests


def mixture_datasets() -> list[str]:
    return sorted(n for n, c in DATAMODULES.items() if c.kind == "points" and c.has_modes)


def load_points(path: str) -> np.ndarray:
    """The ``(N, 2)`` finite float array of ``path`` (``np.load``, ``allow_pickle=False``), or ``ValueError``."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"--points {path!r}: no such file; give a .npy file of shape (N, 2) (np.save)")
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as e:                     # a pickled object array, or not a .npy file at all
        raise ValueError(f"--points {path!r} is not a plain numeric .npy array ({e}); save it with "
                         "np.save(path, np.asarray(points, dtype=np.float32))") from None
    except OSError as e:
        raise ValueError(f"--points {path!r} cannot be read ({e}); give a .npy file written by np.save") from None
    if not isinstance(arr, np.ndarray):          # np.load of an .npz gives an archive
        raise ValueError(f"--points {path!r} is an .npz archive; save the one (N, 2) array with np.save")
    if arr.dtype.kind not in "fiu":
        raise ValueError(f"--points {path!r} has dtype {arr.dtype}; give real numbers (float32/float64)")
    if arr.ndim != 2 or arr.shape[1] != 2 or arr.shape[0] < 2:
        raise ValueError(f"--points {path!r} has shape {arr.shape}; give an (N, 2) array of N >= 2 points")
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"--points {path!r} has {int(bad.sum())} row(s) with NaN or infinite values (first: row "
                         f"{int(np.argmax(bad))}); drop or fix them")
    return arr.astype(np.float32)


def evaluate_points(points: np.ndarray, dataset: str, metrics: list[str] | None = None, *,
                    seed: int = 0) -> dict:
    """``{"values", "protocols", "points"}`` of ``points`` on ``dataset``'s metrics (default: all it declares)."""
    try:
        dm_cls = get_datamodule(dataset)
    except KeyError:
        raise ValueError(f"--reference {dataset!r} is not a registered dataset; --points takes a 2-D mixture: "
                         f"{', '.join(mixture_datasets())}") from None
    if dataset not in mixture_datasets():
        raise ValueError(f"--reference {dataset!r} is not a 2-D mixture; --points takes one of: "
                         f"{', '.join(mixture_datasets())} (images: --images DIR)")
    metrics = metrics or list(dm_cls.metrics)
    check_supported(metrics, dm_cls)
    dm = dm_cls()
    x = torch.from_numpy(points)
    counts = {g.names[0]: n for g, n, _ in sample_requests(metrics, dm)}
    values, protocols = evaluate(metrics, lambda n, labels: x[:n], dm, seed=seed)
    for m, p in protocols.items():
        p["points_given"] = int(x.shape[0])
    return {"values": values, "protocols": protocols,
            "points": {"num_points": int(x.shape[0]), "protocol_counts": counts}}


def run_points_evaluate(args: argparse.Namespace) -> int:
    """Handler of ``evaluate --points``: validate, score, print, optionally write JSON; the exit code."""
    check_evaluate_args(args)
    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    points = load_points(args.points)
    result = evaluate_points(points, args.reference, metrics, seed=args.seed)
    result["points"]["source"] = str(args.points)
    need = max(result["points"]["protocol_counts"].values())
    if points.shape[0] < need:
        print(f"warning: {points.shape[0]} points given, the run protocol scores {need}: these scores (mode "
              "counts above all) are not comparable with a run's", file=sys.stderr)
    elif points.shape[0] > need:
        print(f"scored the first {need} of {points.shape[0]} points (the run protocol's count)", file=sys.stderr)
    print(format_scores(result))
    if args.json:
        write_json(result, args.json)
        print(f"wrote {args.json}")
    return 0
