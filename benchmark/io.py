"""Files: atomic writes, YAML, run identities and run records (a leaf: it imports only :mod:`benchmark.errors`).

Results are data: one JSON file per run, written atomically; everything else is derived from them.
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from .errors import UsageError

RUN_STATUSES = ("completed", "diverged", "failed")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> Path:
    """Write a file atomically: ``write(f)`` fills a temporary file in the same directory, which is flushed,
    fsynced and renamed over ``path``. A reader (or a process killed mid-write) sees the old file or the new
    one, never a partial one; on any error the temporary file is removed and the old file is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)                  # mkstemp makes 0600; results are for sharing
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of UTF-8 ``text``."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda f: f.write(data))


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """:func:`atomic_write` of ``torch.save(obj)``."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    if hasattr(o, "tolist"):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file with the safe loader; ``ValueError`` names the file when it is missing or malformed."""
    import yaml

    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{what} file {str(p)!r} does not exist")
    try:
        return yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ValueError(f"{what} file {str(p)!r} is not valid YAML: {str(e).splitlines()[0]}") from None


def load_yaml_mapping(path: str | os.PathLike, what: str = "config") -> dict[str, Any]:
    """Read a YAML file with the safe loader; it must hold a mapping (``UsageError`` otherwise)."""
    p = Path(path)
    try:
        data = read_yaml(p, what)
    except ValueError as e:
        raise UsageError(str(e)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"{what} file {str(p)!r} must hold a mapping of option: value, got {type(data).__name__}")
    return data


def check_writable(directory: str | os.PathLike) -> None:
    """Fail early (before any training) when results cannot be written."""
    d = Path(directory)
    probe_dir = d
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not os.access(probe_dir, os.W_OK | os.X_OK) or (d.exists() and not d.is_dir()):
        raise UsageError(f"results directory {str(d)!r} is not writable: choose another with --results-dir")


def config_key(config: dict) -> str:
    """A stable 10-hex-digit hash of a run's full configuration (its identity for resuming sweeps)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def run_id(config: dict) -> str:
    """``<variant>-<dataset>-s<seed>-<hash>``: readable and unique per full configuration."""
    return f"{config['variant']}-{config['data']}-s{config['seed']}-{config_key(config)}"


def runs_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "runs"


def load_runs(results_dir: str | os.PathLike) -> list[dict]:
    """Every run record under ``results_dir/runs`` (unreadable files are reported, not fatal)."""
    out = []
    for p in sorted(runs_dir(results_dir).glob("*.json")):
        try:
            rec = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError) as e:
            print(f"warning: skipping unreadable run file {p}: {e}")
            continue
        rec.setdefault("run_id", p.stem)
        out.append(rec)
    return out


def package_versions(names: Iterable[str] = ("torch", "torchvision", "pytorch_lightning", "torchmetrics",
                                             "torch_fidelity", "wandb", "numpy", "sklearn")) -> dict[str, str]:
    from importlib import metadata

    dist = {"pytorch_lightning": "pytorch-lightning", "torch_fidelity": "torch-fidelity", "sklearn": "scikit-learn"}
    out = {"python": platform.python_version()}
    for n in names:
        try:
            out[n] = metadata.version(dist.get(n, n))
        except metadata.PackageNotFoundError:
            out[n] = None
    try:
        out["ganbench"] = metadata.version("ganbench")
    except metadata.PackageNotFoundError:
        out["ganbench"] = None
    return out
