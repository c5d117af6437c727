"""Files: atomic writes, YAML, run identities and run records (a leaf: it imports only :mod:`benchmark.errors`).

Results are data: one JSON file per run, written atomically; everything else is derived from them.
"""
from __future__ import annotations

import hashlib
import json
import os
import math
import platform
import re
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


MAX_YAML_BYTES = 1 << 20         # a config, sweep, thresholds or recipes file is a few kB; 1 MiB is generous
MAX_YAML_NODES = 100_000         # nodes after alias expansion: a "billion laughs" file is refused, not expanded


def _yaml_loader():
    """A safe loader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""
    import yaml

    class Loader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen: dict[Any, Any] = {}
                for key_node, _ in node.value:
                    if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = self.construct_object(key_node)
                    try:
                        if key in seen:
                            raise yaml.constructor.ConstructorError(
                                None, None, f"key {key!r} is given twice (line {seen[key].line + 1} and line "
                                f"{key_node.start_mark.line + 1}); keep one", key_node.start_mark)
                    except TypeError:
                        continue
                    seen[key] = key_node.start_mark
            return super().construct_mapping(node, deep)

    return Loader


def _expanded_size(node: Any, limit: int) -> int:
    """Nodes of a composed YAML document with every alias expanded (memoised per node, so a bomb is counted in
    linear time); stops counting above ``limit``. ``ValueError`` for a recursive alias."""
    import yaml

    sizes: dict[int, int] = {}
    stack = [(node, False)]
    while stack:
        n, done = stack.pop()
        if id(n) in sizes and sizes[id(n)] >= 0:
            continue
        children = []
        if isinstance(n, yaml.SequenceNode):
            children = n.value
        elif isinstance(n, yaml.MappingNode):
            children = [c for kv in n.value for c in kv]
        if done:
            sizes[id(n)] = min(limit + 1, 1 + sum(sizes[id(c)] for c in children))
            continue
        if sizes.get(id(n)) == -1:
            raise ValueError("an alias refers to the node that contains it (a recursive structure)")
        sizes[id(n)] = -1
        stack.append((n, True))
        for c in children:
            if sizes.get(id(c)) == -1:
                raise ValueError("an alias refers to the node that contains it (a recursive structure)")
            if id(c) not in sizes:
                stack.append((c, False))
    return sizes[id(node)]


def parse_yaml_text(text: str, where: str) -> Any:
    """Parse YAML with the safe loader, refusing duplicate keys, recursive aliases and documents over
    :data:`MAX_YAML_NODES` nodes once aliases are expanded; ``ValueError`` starts with ``where``."""
    import yaml

    loader = _yaml_loader()(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node, MAX_YAML_NODES)
        if size > MAX_YAML_NODES:
            raise ValueError(f"{where} expands to more than {MAX_YAML_NODES:,} YAML nodes (aliases repeat "
                             "content): write the values out or use fewer aliases")
        return loader.construct_document(node)
    except yaml.YAMLError as e:
        problem, mark = getattr(e, "problem", None), getattr(e, "problem_mark", None)
        why = (f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if problem and mark
               else " ".join(str(e).split()))
        raise ValueError(f"{where} is not valid YAML: {why[:300]}") from None
    except RecursionError:
        raise ValueError(f"{where} is nested too deeply to be a configuration file") from None
    except ValueError as e:
        if str(e).startswith(where):
            raise
        raise ValueError(f"{where} is not usable YAML: {e}") from None
    finally:
        loader.dispose()


def read_text_file(path: str | os.PathLike, what: str, max_bytes: int = MAX_YAML_BYTES) -> str:
    """A small UTF-8 text file; ``ValueError`` names the file when it is missing, a directory, too large, not
    readable or not UTF-8 (whatever the locale says)."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{what} file {str(p)!r} is a directory; give the path of a YAML file")
    if not p.is_file():
        raise ValueError(f"{what} file {str(p)!r} does not exist")
    try:
        size = p.stat().st_size
        if size > max_bytes:
            raise ValueError(f"{what} file {str(p)!r} is {size:,} bytes, over the {max_bytes:,}-byte limit for a "
                             "configuration file; give a smaller file")
        with open(p, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ValueError(f"{what} file {str(p)!r} cannot be read ({e.strerror or e})") from None
    if len(data) > max_bytes:
        raise ValueError(f"{what} file {str(p)!r} is over the {max_bytes:,}-byte limit for a configuration file")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{what} file {str(p)!r} is not UTF-8 text (byte {e.start}: {e.reason}); "
                         "save it as UTF-8") from None


def read_yaml(path: str | os.PathLike, what: str) -> Any:
    """Parse a YAML file with the safe loader (see :func:`parse_yaml_text`, :func:`read_text_file`);
    ``ValueError`` names the file when it is missing, a directory, too large, not UTF-8 or malformed."""
    return parse_yaml_text(read_text_file(path, what), f"{what} file {str(Path(path))!r}")


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
    bad = [k for k in data if not isinstance(k, str)][:1]
    if bad:
        bad = bad[0]
        raise UsageError(f"{what} file {str(p)!r}: key {str(bad)[:60]!r} is not text ({type(bad).__name__}); "
                         "write option names as text")
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

    def held_by_another(self) -> bool:
        """Whether a live process other than this one holds the lock (nothing is taken or created)."""
        import fcntl

        if self._fd is not None or self.holder() == str(os.getpid()):
            return False
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return False                          # no lock file: nobody holds it
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)                          # also drops the shared lock just taken
        return False

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


def read_record(path: str | os.PathLike, *, check: bool = True) -> dict:
    """One run record; ``ValueError`` says why a file is not one (unreadable, not UTF-8, not JSON, not a
    mapping, no ``variant``, and with ``check`` a field of the wrong type: see :func:`record_problem` and
    :meth:`benchmark.records.RunRecord.from_json`)."""
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
    if not isinstance(rec, dict):
        raise ValueError(f"holds a JSON {type(rec).__name__}, not a run record (a mapping)")
    if "variant" not in rec:
        raise ValueError("has no 'variant': not a run record")
    rec = restore_nonfinite(rec)
    if check:
        RunRecord.from_json(rec)                  # the types of its fields, or ValueError naming the bad one
    problem = record_problem(rec) if check else None
    if problem:
        raise ValueError(problem)
    return rec


_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+=,@-]*")
# optional fields and the types a record may hold there (None allowed for all but finished_at)
_OPTIONAL_FIELDS: dict[str, tuple[type, ...]] = {
    "status": (str,), "steps": (int,), "config": (dict,), "trial": (dict,), "protocol": (dict,),
    "history": (list,), "error": (str,), "samples": (str,), "sample_plot": (str,), "group": (str,),
    "wall_time_s": (int, float), "versions": (dict,)}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def record_problem(rec: dict) -> str | None:
    """Why a parsed run record cannot be used (the fields the report, ``check`` and ``tune`` read have the
    wrong type), as a phrase after "it"; ``None`` when it is usable. Records are untrusted input: a run id that
    could name a path outside ``runs/`` is refused too."""
    for key in ("variant", "dataset"):
        if not isinstance(rec.get(key), str) or not rec[key]:
            return f"has no string {key!r} (got {type(rec.get(key)).__name__}): not a usable run record"
    seed = rec.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        return f"has a 'seed' that is not an integer (got {type(seed).__name__})"
    rid = rec.get("run_id")
    if rid is not None and (not isinstance(rid, str) or not _SAFE_RUN_ID.fullmatch(rid) or ".." in rid):
        return f"has a 'run_id' that is not a plain file name ({str(rid)[:60]!r})"
    metrics = rec.get("metrics")
    if metrics is not None:
        if not isinstance(metrics, dict):
            return f"has 'metrics' that are not a mapping (got {type(metrics).__name__})"
        bad = next((k for k, v in metrics.items() if v is not None and not _number(v)), None)
        if bad is not None:
            return f"has metric {bad!r} that is not a number (got {type(metrics[bad]).__name__})"
    if "finished_at" in rec and not isinstance(rec["finished_at"], str):
        return f"has a 'finished_at' that is not a timestamp string (got {type(rec['finished_at']).__name__})"
    for key, types in _OPTIONAL_FIELDS.items():
        v = rec.get(key)
        if v is not None and (not isinstance(v, types) or (types == (int,) and isinstance(v, bool))):
            return f"has a {key!r} of the wrong type (got {type(v).__name__}, expected {types[0].__name__})"
    return None


def record_file(results_dir: str | os.PathLike, rel: Any) -> Path | None:
    """The file a run record names (``samples``, ``sample_plot``) when it is a relative path inside
    ``results_dir`` that exists; ``None`` otherwise. Records are untrusted input: an absolute path, ``..`` or a
    symlink leading out of the results directory is never opened."""
    if not isinstance(rel, str) or not rel or "\x00" in rel or os.path.isabs(rel):
        return None
    root = Path(results_dir).resolve()
    try:
        p = (root / rel).resolve()
    except (OSError, RuntimeError):
        return None
    if not p.is_relative_to(root) or not p.is_file():
        return None
    return p


def load_samples(results_dir: str | os.PathLike, rel: Any):
    """The ``.npy`` samples a run record names (see :func:`record_file`), loaded with ``allow_pickle=False``;
    ``None`` when the path is refused or the file is not a plain numeric array."""
    import numpy as np

    p = record_file(results_dir, rel)
    if p is None or p.suffix != ".npy":
        return None
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError):
        return None
    return arr if isinstance(arr, np.ndarray) and arr.dtype.kind in "biuf" else None


def read_run_record(path: str | os.PathLike) -> RunRecord:
    """:func:`read_record` as a typed :class:`benchmark.records.RunRecord`."""
    return RunRecord.from_json(read_record(path))


def record_status(path: str | os.PathLike) -> str | None:
    """The ``status`` of the run record at ``path``; ``None`` when there is none or it is not a valid record."""
    try:
        status = read_record(path, check=False).get("status")   # a finished record stays finished
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


_UNUSABLE_REPORTED: set[str] = set()       # cache files already reported as unusable in this process


def warn_unusable_cache(what: str, path: str | os.PathLike, error: BaseException, action: str) -> None:
    """One warning per cache file and process: ``what`` at ``path`` is unusable (``error``) and ``action``
    (e.g. "retraining it and replacing the file")."""
    if str(path) in _UNUSABLE_REPORTED:
        return
    _UNUSABLE_REPORTED.add(str(path))
    text = str(error).strip().splitlines()
    print(f"warning: {what} {path} is unusable ({type(error).__name__}: {text[0][:200] if text else ''}); {action}",
          file=sys.stderr)
