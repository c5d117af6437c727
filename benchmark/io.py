"""Files: atomic writes, YAML, run identities and run records (a leaf: it imports only :mod:`benchmark.errors`).

Results are data: one JSON file per run, written atomically; everything else is derived from them.
"""
from __future__ import annotations

import hashlib
import json
import os
import math
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable

from .errors import UsageError
from .records import RunRecord

RUN_STATUSES = ("completed", "diverged", "failed", "interrupted")
FINISHED = ("completed", "diverged")     # a run with one of these records is done (not retried, never replaced)
ATTEMPT_MARK = ".failed-"                # runs/<id>.failed-<stamp>.json: an attempt kept beside a finished record
ATTEMPT_MARKS = (ATTEMPT_MARK, ".interrupted-")   # ... and runs/<id>.interrupted-<stamp>.json


def attempt_mark(status: str) -> str:
    """The file-name mark of an unfinished attempt kept beside a finished record: ``.interrupted-`` for an
    interrupted one, ``.failed-`` otherwise."""
    return ".interrupted-" if status == "interrupted" else ATTEMPT_MARK


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


NONFINITE_KEY = "nonfinite"     # {"metrics.reverse_kl": "inf", "history.3.loss_d": "nan", ...}


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Standard JSON (no ``NaN``/``Infinity``, which strict parsers reject): in a mapping ``obj`` each
    non-finite float becomes ``null`` and its dotted path goes into ``obj["nonfinite"]`` with ``"nan"``,
    ``"inf"`` or ``"-inf"``; :func:`restore_nonfinite` (used by :func:`load_runs`) puts the values back."""
    obj = _json_ready(obj)
    flags: dict[str, str] = {}
    clean = _strip_nonfinite(obj, "", flags)
    if flags and isinstance(clean, dict):
        clean[NONFINITE_KEY] = {**(clean.get(NONFINITE_KEY) or {}), **flags}
    elif flags:
        clean = _strip_nonfinite(obj, "", {})
    return atomic_write_text(path, json.dumps(clean, indent=2, sort_keys=True, allow_nan=False) + "\n")


def _json_ready(o: Any) -> Any:
    if isinstance(o, dict):
        return {k: _json_ready(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_json_ready(v) for v in o]
    if isinstance(o, (str, int, float, bool)) or o is None:
        return o
    return _json_ready(_json_default(o))


def _strip_nonfinite(o: Any, where: str, flags: dict[str, str]) -> Any:
    if isinstance(o, float) and not math.isfinite(o):
        flags[where] = "nan" if math.isnan(o) else ("inf" if o > 0 else "-inf")
        return None
    if isinstance(o, dict):
        return {k: _strip_nonfinite(v, f"{where}.{k}" if where else str(k), flags) for k, v in o.items()}
    if isinstance(o, list):
        return [_strip_nonfinite(v, f"{where}.{i}" if where else str(i), flags) for i, v in enumerate(o)]
    return o


def restore_nonfinite(rec: dict) -> dict:
    """Undo :func:`atomic_write_json`'s ``nonfinite`` scheme in place (old files with bare ``NaN``/``Infinity``
    parse as they are)."""
    flags = rec.pop(NONFINITE_KEY, None)
    if not isinstance(flags, dict):
        return rec
    for where, value in flags.items():
        keys = str(where).split(".")
        node: Any = rec
        try:
            for k in keys[:-1]:
                node = node[int(k)] if isinstance(node, list) else node[k]
            last = keys[-1]
            if isinstance(node, list):
                node[int(last)] = float(value)
            elif isinstance(node, dict):
                node[last] = float(value)
        except (KeyError, IndexError, ValueError, TypeError):
            continue
    return rec


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
    """Fail early (before any training) when results cannot be written: ``directory`` and its existing
    ``runs/``, ``samples/`` and ``checkpoints/``."""
    d = Path(directory)
    probe_dir = d
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not os.access(probe_dir, os.W_OK | os.X_OK) or (d.exists() and not d.is_dir()):
        raise UsageError(f"results directory {str(d)!r} is not writable: choose another with --results-dir")
    for sub in ("runs", "samples", "checkpoints"):        # every output directory, before any training
        out = d / sub
        if out.exists() and (not out.is_dir() or not os.access(out, os.W_OK | os.X_OK)):
            raise UsageError(f"output directory {str(out)!r} is not writable: make it writable (chmod u+w) or "
                             "choose another --results-dir")


class RunLock:
    """An exclusive lock on one run id across processes: ``runs/<run-id>.lock``, held with ``fcntl.flock``.

    Two sweeps on one results directory each take a run's lock before training it and skip a run whose lock
    another process holds, so they split the work instead of training a run twice. The kernel releases a flock
    when its holder dies (SIGKILL included), so a lock file left by a dead process (its pid in the file) is
    stale by construction: the next :meth:`acquire` takes it over. The file is removed on :meth:`release`;
    :meth:`acquire` re-checks after locking that the path still names the file it locked (a holder that
    released and removed it in between), so two processes never both hold one run id.
    """

    def __init__(self, runs_directory: str | os.PathLike, rid: str) -> None:
        self.path = Path(runs_directory) / f"{rid}.lock"
        self._fd: int | None = None
        self._created: list[Path] = []

    def holder(self) -> str:
        """The pid written by the process holding (or last holding) the lock, or ``"?"``."""
        try:
            return self.path.read_text().split()[0]
        except (OSError, IndexError):
            return "?"

    def acquire(self) -> bool:
        """Take the lock without waiting; ``False`` when another live process holds it."""
        import fcntl

        missing = [d for d in [self.path.parent, *self.path.parent.parents] if not d.exists()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._created = missing                   # removed again on release if still empty: a lock leaves no trace
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)                      # locked a file its holder has just removed: try the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {platform.node()}\n".encode())
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is None:
            return
        self.path.unlink(missing_ok=True)     # while still locked: a waiter then sees a new file
        os.close(self._fd)
        self._fd = None
        for d in self._created:               # innermost first; a directory something else wrote to stays
            try:
                d.rmdir()
            except OSError:
                break
        self._created = []


def config_key(config: dict) -> str:
    """A stable 10-hex-digit hash of a run's full configuration (its identity for resuming sweeps)."""
    blob = json.dumps(config, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


def run_id(config: dict) -> str:
    """``<variant>-<dataset>-s<seed>-<hash>``: readable and unique per full configuration."""
    return f"{config['variant']}-{config['data']}-s{config['seed']}-{config_key(config)}"


def launcher_rank() -> int:
    """This process's global rank as its launcher set it (Lightning's DDP children, torchrun, SLURM); 0 alone."""
    ranks = [os.environ.get(k, "0") for k in ("RANK", "SLURM_PROCID", "LOCAL_RANK", "NODE_RANK")]
    return max(int(v) if v.strip().isdigit() else 0 for v in ranks)


def runs_dir(results_dir: str | os.PathLike) -> Path:
    return Path(results_dir) / "runs"


def read_record(path: str | os.PathLike) -> dict:
    """One run record; ``ValueError`` says why a file is not one (unreadable, not UTF-8, not JSON, not a
    mapping, no ``variant``, a field of the wrong type: :meth:`benchmark.records.RunRecord.from_json`)."""
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except OSError as e:
        raise ValueError(f"cannot be read ({e.strerror or e})") from None
    except UnicodeDecodeError as e:
        raise ValueError(f"is not UTF-8 text ({e.reason} at byte {e.start})") from None
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"is not valid JSON ({e.msg} at line {e.lineno})") from None
    rec = restore_nonfinite(rec) if isinstance(rec, dict) else rec
    RunRecord.from_json(rec)                      # the types of its fields, or ValueError naming the bad one
    return rec


def read_run_record(path: str | os.PathLike) -> RunRecord:
    """:func:`read_record` as a typed :class:`benchmark.records.RunRecord`."""
    return RunRecord.from_json(read_record(path))


def record_status(path: str | os.PathLike) -> str | None:
    """The ``status`` of the run record at ``path``; ``None`` when there is none or it is not a valid record."""
    try:
        status = read_record(path).get("status")
    except ValueError:
        return None
    return status if isinstance(status, str) else None


def load_runs(results_dir: str | os.PathLike) -> list[dict]:
    """Every run record under ``results_dir/runs``.

    A file that is not a run record is skipped with a warning naming it and the reason (never fatal);
    ``<id>.failed-<stamp>.json`` and ``<id>.interrupted-<stamp>.json`` files (attempts that did not finish,
    kept beside a finished record) are not loaded.
    """
    out = []
    for p in sorted(runs_dir(results_dir).glob("*.json")):
        if any(mark in p.name for mark in ATTEMPT_MARKS):
            continue
        try:
            rec = read_record(p)
        except ValueError as e:
            print(f"warning: skipping run file {p}: it {e}; fix or delete it", file=sys.stderr)
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
