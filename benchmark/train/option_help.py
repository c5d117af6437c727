"""``python -m benchmark options``: every option of a run with its default, type, choices and one-line help.

The help of a dataclass field is the trailing ``# ...`` comment of its line in the source (RunOptions, GANConfig
and the variant Configs document their fields that way), with the comment-only lines that continue it, read with :mod:`ast` (the fields) and :mod:`tokenize`
(the comments); a field a subclass redeclares without a comment keeps its base class's help. A datamodule's
constructor arguments get their type and default from the signature.
"""
from __future__ import annotations

from pathlib import Path

import ast
import dataclasses
import inspect
import io
import textwrap
import tokenize
import typing
from typing import Any, Literal, NamedTuple, Union

from models import get_variant
from models.config import field_types
from datamodules import get_datamodule

from .options import RunOptions, data_schema


class OptionRow(NamedTuple):
    owner: str          # "run", the variant or the dataset
    name: str
    default: Any
    type: str           # "int", "float", "str", "bool", "float or None", "choice"
    choices: tuple      # the Literal choices (empty for a free value)
    help: str


def field_comments(cls: type) -> dict[str, str]:
    """``{field: trailing comment}`` of a dataclass and its dataclass bases (the subclass's comment wins)."""
    out: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if not dataclasses.is_dataclass(klass) or klass is object:
            continue
        try:
            source = textwrap.dedent(inspect.getsource(klass))
        except (OSError, TypeError):
            continue
        lines = source.splitlines()
        comments = {tok.start[0]: (tok.start[1], tok.string.lstrip("#").strip())
                    for tok in tokenize.generate_tokens(io.StringIO(source).readline)
                    if tok.type == tokenize.COMMENT}
        body = ast.parse(source).body[0]
        for node in getattr(body, "body", []):
            if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                line = node.end_lineno if node.end_lineno in comments else node.lineno
                if line not in comments:
                    continue
                parts = [comments[line][1]]
                # the comment goes on over comment-only lines indented past the field (not a `# --- section`)
                while (line + 1 in comments and lines[line].lstrip().startswith("#")
                       and comments[line + 1][0] > node.col_offset):
                    line += 1
                    parts.append(comments[line][1])
                out[node.target.id] = " ".join(p for p in parts if p)
    return out


def describe_type(tp: Any) -> tuple[str, tuple]:
    """``(type name, choices)`` of a type hint: ``Literal`` -> ``("choice", values)``; ``Optional[X]`` -> ``"X or None"``."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "choice", typing.get_args(tp)
    if origin is Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        name, choices = describe_type(args[0]) if args else ("any", ())
        return f"{name} or None", choices
    return getattr(tp, "__name__", str(tp)), ()


def option_rows(variant: str, data: str) -> list[OptionRow]:
    """Every option of a run of ``variant`` on ``data``; ``--variant``/``--data`` show the chosen ones.

    Raises:
        KeyError: an unknown variant or dataset (the message lists the registered ones).
    """
    variant_cls, dm_cls = get_variant(variant), get_datamodule(data)
    rows = []
    for owner, cls in (("run", RunOptions), (variant, variant_cls.Config)):
        comments, types = field_comments(cls), field_types(cls)
        chosen = {"variant": variant, "data": data} if cls is RunOptions else {}
        for f in dataclasses.fields(cls):
            tname, choices = describe_type(types[f.name])
            rows.append(OptionRow(owner, f.name, chosen.get(f.name, f.default), tname, choices,
                                  comments.get(f.name, "")))
    for name, (tp, default) in data_schema(dm_cls).items():
        tname, choices = describe_type(tp)
        rows.append(OptionRow(data, name, default, tname, choices, ""))
    return rows


def sweep_file(sweep: str) -> "Path":
    """The sweep file ``sweep`` names: a path, or the name of a file under ``benchmark/sweeps/`` (``default``).

    Raises:
        KeyError: no such file (the message lists the shipped sweeps).
    """
    from .sweep import DEFAULT_SWEEP

    path = Path(sweep)
    if not path.is_file():
        path = DEFAULT_SWEEP.parent / f"{sweep}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in DEFAULT_SWEEP.parent.glob("*.yaml") if p.stem != "recipes")
        raise KeyError(f"--sweep {sweep!r}: no such file; give a sweep file or one of: {', '.join(names)}")
    return path


def sweep_options(sweep: str, variant: str, data: str) -> tuple[str, dict[str, Any]]:
    """``(sweep file, options)`` of the first planned run of ``variant`` on ``data`` in ``sweep`` (a path, or the
    name of a file under ``benchmark/sweeps/``, e.g. ``default``): every level applied, the recipes included.

    Raises:
        KeyError: no such sweep file, or the sweep does not run that variant on that dataset.
    """
    from .sweep import load_sweep, plan

    path = sweep_file(sweep)
    for run in plan(load_sweep(path)):
        if run.options.get("variant") == variant and run.options.get("data") == data:
            opts = {k: v for k, v in run.options.items() if k not in ("group", "results_dir", "trial")}
            return str(path), opts
    raise KeyError(f"--sweep {sweep!r} does not run {variant!r} on {data!r}")


def with_sweep_values(rows: list[OptionRow], values: dict[str, Any]) -> list[OptionRow]:
    """``rows`` with each default replaced by the sweep's value, the help prefixed ``[sweep]`` where it differs."""
    out = []
    for r in rows:
        if r.name in values and values[r.name] != r.default and r.name not in ("variant", "data"):
            r = r._replace(default=values[r.name], help=f"[sweep; default {r.default}] {r.help}".rstrip())
        out.append(r)
    return out


def format_rows(rows: list[OptionRow]) -> str:
    """One line per option: ``owner --name default type-or-choices help``."""
    lines = []
    for r in rows:
        kind = "{" + ",".join(map(str, r.choices)) + "}" if r.choices else r.type
        if r.choices and r.type != "choice":
            kind += " or None"
        default = "None" if r.default is None else str(r.default)
        line = f"  {r.owner:10s} --{r.name.replace('_', '-'):22s} {default:10s} {kind:16s} {r.help}"
        lines.append(line.rstrip())
    return "\n".join(lines) + "\n"


def sweep_cell(variant: str, data: str, sweep: str | None = None) -> tuple[dict[str, Any], dict[str, Any], str]:
    """What a sweep file (default: the default sweep of ``./run_all.sh``) sets for its (variant, data) cell:
    ``(options, recipe entry, sweep name)``; options are ``{}`` when the sweep does not run that cell.

    The options are :func:`benchmark.train.sweep.cell_options`: the shared levels, ``variant_options`` and the
    tuned recipe (``recipes.yaml``: the entry holds its ``options`` and ``provenance``), i.e. everything a run of
    the cell sets beyond the defaults and its seed.
    """
    from . import sweep as S

    spec = S.with_all_expanded(S.load_sweep(sweep_file(sweep) if sweep else S.DEFAULT_SWEEP))
    name = str(spec.get("name"))
    if variant not in (spec.get("variants") or []) or data not in (spec.get("datasets") or []):
        return {}, {}, name
    recipes = spec.recipes()
    entry = (recipes.get(variant) or {}).get(data) or {}
    return S.cell_options(spec, recipes, variant, data), entry, name


def format_sweep_cell(variant: str, data: str, rows: list[OptionRow], sweep: str | None = None) -> str:
    """The section of ``options`` / ``run --help`` that shows which defaults a sweep's cell replaces (its tuned
    recipe's values marked ``recipe``) and the ``run`` command that trains one of its runs."""
    options, entry, name = sweep_cell(variant, data, sweep)
    if not options:
        return f"\nthe {name} sweep does not run {variant} on {data}: its runs use the defaults above\n"
    defaults = {r.name: r.default for r in rows}
    recipe, prov = entry.get("options") or {}, entry.get("provenance") or {}
    src = (f"tuned recipe from {prov.get('sweep')} (trial {prov.get('trial')} of {prov.get('trials')}, "
           f"{prov.get('metric')} median {prov.get('median')}, {prov.get('date')})" if recipe
           else "no tuned recipe: the variant's paper optimiser defaults")
    lines = ["", f"the {name} sweep (`python -m benchmark sweep`, ./run_all.sh) replaces these defaults for "
             f"{variant} on {data}; {src}:"]
    for k, v in options.items():
        lines.append(f"  {'recipe' if k in recipe else 'sweep':10s} --{k.replace('_', '-'):22s} {str(v):10s} "
                     f"(default {defaults.get(k)})")
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in options.items())
    lines.append(f"a run of that cell: python -m benchmark run --variant {variant} --data {data} --seed 0 {flags}")
    return "\n".join(lines) + "\n"


__all__ = ["OptionRow", "field_comments", "describe_type", "option_rows", "format_rows", "sweep_file",
           "sweep_options", "with_sweep_values", "sweep_cell", "format_sweep_cell"]
