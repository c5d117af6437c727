"""Tuned recipes as data: per (variant, dataset) options chosen by a search, with their provenance.

The file (YAML, committed and reviewed like code) maps ``variant -> dataset -> {options, provenance}``::

    nsgan:
      ring8:
        options: {lr_g: 0.00231, lr_d: 0.00107, beta1: 0.5}
        provenance: {sweep: toy_search, trial: 3, trials: 8, metric: high_quality, median: 86.1, seeds: 3,
                     budget: {iterations: 3000, batch_size: 256}, date: 2026-12-02}

A sweep reads it with ``recipes: recipes.yaml``; ``python -m benchmark tune SWEEP`` writes it
(:mod:`benchmark.train.tune`). A (variant, dataset) the file does not name keeps the variant's paper defaults.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from models import VARIANTS, ConfigError
from models.config import field_types

from ..io import atomic_write_text, read_yaml

HEADER = """\
# Tuned recipes: the best trial of a random search per (variant, dataset), by the dataset's primary metric
# (median over the trial's seeds). Written by `python -m benchmark tune SWEEP.yaml`; read by any sweep with
# `recipes: recipes.yaml`. Review changes like code: `provenance` says which search, budget and score chose them.
"""


def load_recipes(path: str | os.PathLike) -> dict[str, dict[str, dict[str, Any]]]:
    """Read and check a recipes file: known variants, options that are fields of the variant's ``Config``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipes file {path} not found: write it with `python -m benchmark tune SWEEP.yaml` "
                          "or drop the sweep's `recipes:` line")
    try:
        data = read_yaml(path, "recipes") or {}
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"recipes file {path} must map variant -> dataset -> {{options, provenance}}")
    for variant, per_data in data.items():
        if not isinstance(variant, str) or variant not in VARIANTS:
            raise ConfigError(f"recipes file {path}: unknown variant {variant!r}; valid: {', '.join(sorted(VARIANTS))}")
        fields = field_types(VARIANTS[variant].Config)
        if per_data is not None and not isinstance(per_data, dict):
            raise ConfigError(f"recipes file {path}: {variant} must map dataset -> {{options, provenance}}")
        for dataset, entry in (per_data or {}).items():
            opts = (entry or {}).get("options") if isinstance(entry, dict) else None
            if not isinstance(opts, dict):
                raise ConfigError(f"recipes file {path}: {variant}.{dataset} needs an `options` mapping")
            stray = sorted(set(opts) - set(fields))
            if stray:
                raise ConfigError(f"recipes file {path}: {variant}.{dataset} sets {', '.join(stray)}, "
                                  f"not options of {variant}")
    return data


def recipe_options(recipes: dict[str, Any], variant: str, dataset: str) -> dict[str, Any]:
    """The tuned options of (variant, dataset), or {} (the variant's own defaults)."""
    entry = (recipes.get(variant) or {}).get(dataset) or {}
    return dict(entry.get("options") or {})


class _NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:       # every entry spelled out: no &id001 / *id001
        return True


def write_recipes(path: str | os.PathLike, recipes: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Write the file atomically, variants and datasets sorted so a diff shows only what changed."""
    ordered = {v: {d: recipes[v][d] for d in sorted(recipes[v])} for v in sorted(recipes)}
    atomic_write_text(path, HEADER + yaml.dump(ordered, Dumper=_NoAliases, sort_keys=False,
                                                       default_flow_style=None, width=118))
