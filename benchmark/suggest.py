"""Fast, helpful refusals of misspelled names (a light module: no torch, Lightning or W&B import).

``run``, ``options`` and ``sweep`` check variant, dataset and option names against the static catalogue of
:mod:`benchmark.commands` before importing the registries (~10 s cold), so a typo is refused in a fraction of a
second with a did-you-mean (:mod:`difflib`, plus the names a short prefix or a common alias points at:
``--lr`` -> ``--lr-g``, ``--lr-d``). Hyphens and underscores are the same in names (``wgan-gp`` is ``wgan_gp``),
as they are in option flags. What the catalogue cannot judge (values, ranges) is left to
:func:`benchmark.train.options.resolve`, which also uses :func:`unknown_option_message` for its own refusals.
"""
from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from . import commands as C                   # its tables are read on first use (benchmark/catalogue.json)
from .commands import DATA_ENV
from .errors import UsageError
from .names import ALIASES, canonical, close_names, unknown_option_message  # noqa: F401 (re-exported)

def check_name(kind: str, name: Any, choices: Iterable[str]) -> str:
    """``name`` as registered (hyphens allowed), or ``UsageError``: unknown, did you mean, the choices."""
    choices = sorted(choices)
    if canonical(name) in choices:
        return canonical(name)
    near = close_names(str(name), choices, n=3)
    if near:
        raise UsageError(f"unknown {kind} {str(name)!r}: did you mean {' or '.join(repr(c) for c in near)}? "
                         f"(choose one of: {', '.join(choices)})")
    raise UsageError(f"unknown {kind} {str(name)!r}; choose one of: {', '.join(choices)}")


def option_names(variant: str, data: str) -> set[str]:
    """Every option a run of ``variant`` on ``data`` accepts (both must be registered names)."""
    return set(C.RUN_OPTIONS) | set(C.GAN_OPTIONS) | set(C.VARIANT_OPTIONS[variant]) | set(C.DATASET_OPTIONS[data])


def check_run_names(options: dict[str, Any]) -> dict[str, Any]:
    """Check a ``run``'s variant, dataset and option names against the catalogue; the options with the variant
    and dataset names made canonical (``wgan-gp`` -> ``wgan_gp``). ``UsageError`` for the first bad name, or
    when no variant is given (a run of a silently chosen objective is never what was meant), or when its dataset's
    files are missing (:func:`missing_data`)."""
    options = {canonical(k): v for k, v in options.items()}
    if options.get("variant") in (None, ""):
        raise UsageError("run needs --variant NAME (one of: " + ", ".join(sorted(C.VARIANTS)) + "); "
                         "`python -m benchmark list` describes them")
    options["variant"] = check_name("variant", options["variant"], C.VARIANTS)
    options["data"] = check_name("dataset", options.get("data", "ring8"), C.DATASETS)
    valid = option_names(options["variant"], options["data"])
    for key in options:
        if key not in valid:
            raise UsageError(unknown_option_message(key, valid, options["variant"], options["data"]))
    missing = missing_data(options["data"], options)
    if missing:
        raise UsageError(missing)
    return options


def missing_data(data: str, options: dict[str, Any], *, command: str = "run") -> str | None:
    """One line saying what is missing and how to get it, when ``data`` needs files that are not under its root
    (``--root``, else ``$GANBENCH_DATA``, else ``./data``) and ``--download`` is not on; ``None`` otherwise.
    ``command="evaluate"`` gives the advice that fits ``evaluate`` (no ``--download``, no ``--root``)."""
    if data not in C.DATA_FILES or str(options.get("download", "")).strip().lower() in ("1", "true", "yes", "on"):
        return None
    root_given = options.get("root") not in (None, "", "None", "none", "null")
    root = Path(str(options["root"]) if root_given else (os.environ.get(DATA_ENV) or "./data")).expanduser()
    folder, files = C.DATA_FILES[data]
    missing = [f for f in files if not (root / folder / f).exists()]
    if not missing:
        return None
    where = "--root" if root_given else (f"${DATA_ENV}" if os.environ.get(DATA_ENV) else "the default ./data")
    if command == "evaluate":
        return (f"--reference {data}: not found: {(root / folder).resolve()} (the data root from {where}) lacks "
                f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}; evaluate reads a dataset from "
                f"${DATA_ENV} (else ./data) and never downloads: set {DATA_ENV}=DIR for the folder holding {folder}/, "
                f"or download it there once (online) with `python -m benchmark run --variant nsgan --data {data} "
                f"--root DIR --download true --iterations 1`")
    return (f"dataset {data!r} not found: {(root / folder).resolve()} (the data root from {where}) lacks "
            f"{', '.join(missing[:4])}{', ...' if len(missing) > 4 else ''}; add --download true to download it "
            f"(needs internet), or give --root DIR (or ${DATA_ENV}=DIR) for the folder holding {folder}/")


def check_sweep_names(spec: dict[str, Any], path: str | os.PathLike, *, check_data: bool = True) -> None:
    """Refuse a sweep file's misspelled variant, dataset or option name before the registries are imported.

    Only certain errors: an option is refused here when no run of the sweep (any of its variants on any of its
    datasets) accepts it; the exact per-run check stays with :func:`benchmark.train.sweep.plan`. With
    ``check_data`` a dataset whose files are missing is refused too (not for a dry run or a W&B export, which
    may be made on a machine without the data).
    """
    where = Path(path).name

    def names(key: str, registry: dict) -> list[str]:
        value = spec.get(key)
        if value == "all" or value is None:
            return sorted(registry)
        if not isinstance(value, list):
            return sorted(registry)                    # plan() says what the key must be
        for v in value:
            if isinstance(v, str) and v not in registry:
                raise UsageError(f"sweep {where}: " + _name_line(key[:-1], v, registry))
        return [v for v in value if isinstance(v, str) and v in registry]

    variants, datasets = names("variants", C.VARIANTS), names("datasets", C.DATASETS)
    for key, registry, kind in (("variant_options", C.VARIANTS, "variant"), ("dataset_options", C.DATASETS, "dataset")):
        per_name = spec.get(key)
        if isinstance(per_name, dict):
            for name in per_name:
                if isinstance(name, str) and name not in registry:
                    raise UsageError(f"sweep {where} {key}: " + _name_line(kind, name, registry))
    valid = set(C.RUN_OPTIONS) | set(C.GAN_OPTIONS) | {o for v in variants for o in C.VARIANT_OPTIONS[v]} \
        | {o for d in datasets for o in C.DATASET_OPTIONS[d]}
    levels: list[tuple[str, Any]] = [("", {k: v for k, v in spec.items()
                                           if k not in C.SWEEP_KEYS and not str(k).startswith("_")})]
    levels += [("options", spec.get("options")), ("grid", spec.get("grid"))]
    for key in ("dataset_options", "variant_options"):
        if isinstance(spec.get(key), dict):
            levels += [(f"{key}.{n}", o) for n, o in spec[key].items()]
    if isinstance(spec.get("quick"), dict):
        levels.append(("quick", {k: v for k, v in spec["quick"].items() if k not in C.SWEEP_KEYS}))
    for level, opts in levels:
        if not isinstance(opts, dict):
            continue
        for option in opts:
            if isinstance(option, str) and canonical(option) not in valid:     # plan() refuses other keys
                at = f" {level}" if level else ""
                v, d = (variants[0] if len(variants) == 1 else "V"), (datasets[0] if len(datasets) == 1 else "D")
                near = close_names(str(option), valid)
                hint = (f"did you mean {', '.join(near)}? (`python -m benchmark options --variant {v} --data {d}` "
                        f"lists them)" if near else f"valid options: {', '.join(sorted(valid))}")
                raise UsageError(f"sweep {where}{at}: option {str(option)!r} is accepted by no run of this sweep; "
                                 + hint)
    if not check_data:
        return
    shared = {**levels[0][1], **(spec.get("options") if isinstance(spec.get("options"), dict) else {})}
    per_data = spec.get("dataset_options") if isinstance(spec.get("dataset_options"), dict) else {}
    for d in datasets:
        own = per_data.get(d) if isinstance(per_data.get(d), dict) else {}
        missing = missing_data(d, {**shared, **own})
        if missing:                                   # the sweep spells the options as YAML keys
            yaml_words = missing.replace("--download true", "download: true").replace("--root DIR", "root: DIR")
            raise UsageError(f"sweep {where}: {yaml_words} (under dataset_options.{d})")


def _name_line(kind: str, name: Any, registry: Iterable[str]) -> str:
    try:
        check_name(kind, name, registry)
    except UsageError as e:
        return str(e)
    return f"{kind} {name!r} is spelled with '-'; write {canonical(name)!r}"


__all__ = ["ALIASES", "canonical", "close_names", "check_name", "option_names", "unknown_option_message",
           "check_run_names", "check_sweep_names", "missing_data"]
