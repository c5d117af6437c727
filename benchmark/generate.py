"""``python -m benchmark generate --run RUN_ID_OR_JSON --num N --out DIR``: samples from a trained run.

Every run keeps its final generator in ``<results>/generators/<run-id>.pt``
(:func:`benchmark.train.checkpoint.save_generator`: the state dict with the shapes it needs,
``torch.load(weights_only=True)``-loadable); a run made before that is read from its newest checkpoint (``--checkpoint-every``). ``generate`` rebuilds the variant's
generator from the run's config, draws N samples in eval mode from ``--seed`` (default: the run's seed), and
writes them to DIR: ``000000.png ...`` for images (the run's resolution and channels, uint8 as kept samples
are), ``samples.npy`` (N x 2, float32) for points. It then prints the ``evaluate`` command that scores the folder
under the run's protocol (its metrics and seed against the dataset's reference split; N defaults to the number
of generated samples the run's metrics used, so the protocol is the run's).
"""
from __future__ import annotations

import argparse
import difflib
import json
import os
from pathlib import Path
from typing import Any

from .errors import UsageError


def find_record(run: str, results_dir: str | os.PathLike) -> tuple[dict[str, Any], Path]:
    """The run record named by a JSON path or a run id (under ``results_dir/runs``) and its results directory."""
    p = Path(run)
    if not (p.suffix == ".json" and p.is_file()):
        p = Path(results_dir) / "runs" / f"{run}.json"
    if not p.is_file():
        ids = sorted(q.stem for q in (Path(results_dir) / "runs").glob("*.json") if "." not in q.stem)
        near = difflib.get_close_matches(run, ids, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else (
            f"; {len(ids)} runs are there (`ls {Path(results_dir) / 'runs'}`)" if ids else "")
        raise UsageError(f"--run {run!r}: no run JSON {run!r} nor {p}{hint} (give a run JSON, or a run id with "
                         "--results-dir)")
    try:
        record = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise UsageError(f"--run {run!r}: {p} is not a readable run JSON ({e})") from None
    if not isinstance(record, dict) or "run_id" not in record or "config" not in record:
        raise UsageError(f"--run {run!r}: {p} is not a run record (no run_id/config)")
    return record, p.parent.parent


def generator_file(record: dict[str, Any], results_dir: Path) -> Path:
    """The kept generator of a run, else the newest checkpoint of its run id or ``--name``."""
    from .train import checkpoint as C

    kept = results_dir / (record.get("generator") or f"{C.GENERATOR_DIR}/{record['run_id']}.pt")
    if kept.is_file():
        return kept
    keys = [record["run_id"]] + [k for k in [(record.get("config") or {}).get("name")] if k]
    for key in keys:
        ckpts = C.list_checkpoints(C.checkpoint_dir(results_dir, key))
        if ckpts:
            return ckpts[0]
    raise UsageError(f"run {record['run_id']} kept no generator ({kept} is missing) and has no checkpoint under "
                     f"{results_dir / 'checkpoints'}: re-run it (older runs did not keep their generator; runs keep it "
                     "now) or train with --checkpoint-every N")


def build_generator(record: dict[str, Any], blob: dict[str, Any]):
    """The run's module with the kept generator weights loaded (its discriminators are left untrained)."""
    from models import get_variant

    cls = get_variant(record["variant"])
    fields = set(cls.Config.__dataclass_fields__)
    hp = {k: v for k, v in {**(record.get("config") or {}), **(blob.get("config") or {})}.items() if k in fields}
    model = cls(data_shape=tuple(blob["data_shape"]), num_classes=int(blob["num_classes"]),
                data_kind=blob["data_kind"], **hp)
    model.generator.load_state_dict(blob["generator"])
    return model.eval()


def default_num(record: dict[str, Any]) -> int:
    """The most generated samples any of the run's metrics scored (its protocol), else 1,000."""
    counts = [int(p.get("num_generated") or 0) for p in (record.get("protocol") or {}).values()
              if isinstance(p, dict)]
    return max(counts, default=0) or 1000


def write_samples(samples, kind: str, out: Path) -> list[Path]:
    """Images as ``000000.png ...`` (grayscale for one channel), points as ``samples.npy``."""
    import numpy as np
    from PIL import Image

    from .samples import keep_samples

    arr = keep_samples(samples, kind)
    out.mkdir(parents=True, exist_ok=True)
    if kind != "image":
        np.save(out / "samples.npy", arr.astype(np.float32))
        return [out / "samples.npy"]
    paths = []
    width = max(6, len(str(len(arr) - 1)))
    for i, img in enumerate(arr):
        p = out / f"{i:0{width}d}.png"
        Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(p)
        paths.append(p)
    return paths


def check_out(out: Path) -> None:
    """Refuse an output path that is a file or a folder with files in it: generated sets are never mixed."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UsageError(f"--out {str(out)!r} exists and is not an empty folder: choose a new folder (samples of "
                         "two generations must not mix: evaluate scores every image under it)")
    probe = out
    while not probe.exists():
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"--out {str(out)!r} cannot be created ({probe} is not writable): choose another folder")


def cmd_generate(args: argparse.Namespace) -> int:
    if args.num is not None and args.num < 1:
        raise UsageError(f"--num {args.num} must be >= 1")
    record, results_dir = find_record(args.run, args.results_dir)
    out = Path(args.out)
    check_out(out)
    source = generator_file(record, results_dir)
    import torch

    from .train.checkpoint import load_generator

    try:
        blob = load_generator(source)
    except Exception as e:
        raise UsageError(f"cannot read the generator of {record['run_id']} from {source}: {e}") from None
    model = build_generator(record, blob)
    num = args.num or default_num(record)
    seed = record.get("seed", 0) if args.seed is None else args.seed
    torch.manual_seed(seed)
    samples = torch.nan_to_num(model.sample(num), nan=0.0, posinf=0.0, neginf=0.0)
    paths = write_samples(samples, blob["data_kind"], out)
    what = f"{num} images" if blob["data_kind"] == "image" else f"{num} points in {paths[0]}"
    print(f"wrote {what} under {out} from {source} (run {record['run_id']}, seed {seed})")
    if blob["data_kind"] == "image":
        metrics = ",".join(record.get("metrics") or {}) or "<metrics>"
        print(f"score them under the run's protocol: python -m benchmark evaluate --images {out} --reference "
              f"{record['dataset']} --metrics {metrics} --seed {record.get('seed', 0)}")
    return 0


__all__ = ["find_record", "generator_file", "build_generator", "default_num", "write_samples", "cmd_generate"]
