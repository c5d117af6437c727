"""The static catalogue of the registries (``benchmark/catalogue.json``), generated from the registries themselves.

``python -m benchmark --help`` and ``list`` answer without importing torch, Lightning, the models or the
datamodules: they read ``catalogue.json``, which this module writes from the real registries
(``models.VARIANTS``, ``datamodules.DATAMODULES``, ``benchmark.score.METRIC_GROUPS``)::

    python -m benchmark.catalogue          # regenerate benchmark/catalogue.json

The file also records a fingerprint of the registration modules (:data:`REGISTRATION_FILES`). When that differs
(a variant, dataset or metric was registered since the file was written), :func:`load` builds the catalogue from
the registries instead (slower, but never wrong), so registering is one new file plus one line;
``tests/test_catalogue.py`` fails, printing the command above, until the file is regenerated.
This module imports nothing heavy at module level.
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

PATH = Path(__file__).with_name("catalogue.json")
ROOT = Path(__file__).resolve().parents[1]
# the files holding the registration lines (relative to the directory holding the packages)
REGISTRATION_FILES = ("models/variants/__init__.py", "datamodules/__init__.py", "benchmark/score/__init__.py")
REGENERATE = "python -m benchmark.catalogue"


def fingerprint(root: Path = ROOT) -> str:
    """SHA-256 (16 hex) of the registration modules' text: changes whenever a registration line does."""
    h = hashlib.sha256()
    for rel in REGISTRATION_FILES:
        p = root / rel
        h.update(rel.encode() + b"\0" + (p.read_bytes() if p.exists() else b"") + b"\0")
    return h.hexdigest()[:16]


def build() -> dict[str, Any]:
    """The catalogue from the real registries (imports torch): ``variants`` (name -> first docstring line),
    ``datasets`` (name -> [kind, dims, default metrics]), ``metrics`` (name -> higher is better)."""
    import datamodules
    import models
    from benchmark import score

    variants = {name: ((cls.__doc__ or "").strip().splitlines() or [""])[0]
                for name, cls in sorted(models.VARIANTS.items())}
    datasets = {name: [cls.kind, list(cls.dims), list(cls.metrics)]
                for name, cls in sorted(datamodules.DATAMODULES.items())}
    metrics = {name: bool(score.metric(name).higher_is_better) for name in sorted(score.METRIC_GROUPS)}
    return {"generated_by": REGENERATE, "fingerprint": fingerprint(), "variants": variants,
            "datasets": datasets, "metrics": metrics}


def render(catalogue: dict[str, Any]) -> str:
    return json.dumps(catalogue, indent=1, ensure_ascii=False) + "\n"


def read(path: Path = PATH) -> dict[str, Any]:
    """The catalogue as written (``{}`` when the file is missing or unreadable)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def load() -> dict[str, Any]:
    """The written catalogue when its fingerprint matches the registration modules, else :func:`build`."""
    written = read()
    if written.get("fingerprint") == fingerprint() and {"variants", "datasets", "metrics"} <= set(written):
        return written
    return build()


def as_tables(catalogue: dict[str, Any]) -> tuple[dict[str, str], dict[str, tuple], dict[str, bool]]:
    """``(VARIANTS, DATASETS, METRICS)`` in :mod:`benchmark.commands`' shapes (tuples for lists)."""
    datasets = {n: (kind, tuple(dims), tuple(metrics)) for n, (kind, dims, metrics) in catalogue["datasets"].items()}
    return dict(catalogue["variants"]), datasets, dict(catalogue["metrics"])


def write(path: Path = PATH) -> bool:
    """Regenerate ``path``; ``True`` when its content changed."""
    text = render(build())
    old = path.read_text(encoding="utf-8") if path.exists() else None
    if text != old:
        path.write_text(text, encoding="utf-8")
    return text != old


if __name__ == "__main__":
    changed = write()
    print(f"{PATH}: {'rewritten' if changed else 'already fresh'}")
