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
# the files whose definitions the catalogue also lists: option names (RunOptions, GANConfig, each variant's Config,
# each datamodule's constructor), the sweep keys and the data files a dataset needs
DEFINITION_GLOBS = ("models/config.py", "models/variants/*.py", "datamodules/*.py", "benchmark/train/options.py",
                    "benchmark/train/sweep.py")
REGENERATE = "python -m benchmark.catalogue"


def fingerprint(root: Path = ROOT) -> str:
    """SHA-256 (16 hex) of the registration modules' text: changes whenever a registration line does."""
    h = hashlib.sha256()
    rels = list(REGISTRATION_FILES) + sorted({p.relative_to(root).as_posix() for g in DEFINITION_GLOBS
                                              for p in root.glob(g)} - set(REGISTRATION_FILES))
    for rel in rels:
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
            "datasets": datasets, "metrics": metrics, **option_names(), "data_files": data_files()}


def option_names() -> dict[str, Any]:
    """What ``run``, ``options`` and ``sweep`` accept (checked before torch is imported, ``benchmark.suggest``):
    ``run_options`` (RunOptions), ``gan_options`` (every variant's GANConfig), ``variant_options`` (a variant's own
    Config fields beyond those), ``dataset_options`` (a datamodule's constructor arguments; the seed comes from the
    run) and ``sweep_keys`` (a sweep file's own keys)."""
    import datamodules
    import models
    from benchmark.train.options import RunOptions, data_schema
    from benchmark.train.sweep import SWEEP_KEYS
    from models.config import GANConfig, field_types

    gan = list(field_types(GANConfig))
    return {"run_options": list(field_types(RunOptions)), "gan_options": gan,
            "variant_options": {n: [f for f in field_types(c.Config) if f not in gan]
                                for n, c in sorted(models.VARIANTS.items())},
            "dataset_options": {n: list(data_schema(c)) for n, c in sorted(datamodules.DATAMODULES.items())},
            "sweep_keys": sorted(SWEEP_KEYS)}


def data_files() -> dict[str, Any]:
    """dataset -> [folder under the data root, files in it that must exist] for the datasets read from disk, so a
    missing dataset is refused before torch is imported."""
    import tempfile

    import datamodules
    from datamodules.vision import TorchvisionImageDataModule

    out = {}
    with tempfile.TemporaryDirectory() as root:
        for name, cls in sorted(datamodules.DATAMODULES.items()):
            if issubclass(cls, TorchvisionImageDataModule):
                dm = cls(root=root)
                out[name] = [dm.directory.relative_to(root).as_posix(), list(dm.required_files())]
    return out


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
    if written.get("fingerprint") == fingerprint() and set(TABLE_KEYS) <= set(written):
        return written
    return build()


TABLE_KEYS = ("variants", "datasets", "metrics", "run_options", "gan_options", "variant_options", "dataset_options",
              "sweep_keys", "data_files")


def as_tables(catalogue: dict[str, Any]) -> dict[str, Any]:
    """The tables :mod:`benchmark.commands` exposes (``VARIANTS``, ``DATASETS``, ``METRICS``, ``RUN_OPTIONS``,
    ``GAN_OPTIONS``, ``VARIANT_OPTIONS``, ``DATASET_OPTIONS``, ``SWEEP_KEYS``, ``DATA_FILES``), tuples for lists."""
    c = catalogue
    return {"VARIANTS": dict(c["variants"]),
            "DATASETS": {n: (kind, tuple(dims), tuple(metrics)) for n, (kind, dims, metrics) in c["datasets"].items()},
            "METRICS": dict(c["metrics"]),
            "RUN_OPTIONS": tuple(c["run_options"]), "GAN_OPTIONS": tuple(c["gan_options"]),
            "VARIANT_OPTIONS": {n: tuple(o) for n, o in c["variant_options"].items()},
            "DATASET_OPTIONS": {n: tuple(o) for n, o in c["dataset_options"].items()},
            "SWEEP_KEYS": frozenset(c["sweep_keys"]),
            "DATA_FILES": {n: (folder, tuple(files)) for n, (folder, files) in c["data_files"].items()}}


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
