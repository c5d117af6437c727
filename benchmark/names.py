"""Names as users type them: hyphens or underscores, aliases newcomers try, and did-you-mean suggestions.

A leaf module (standard library only), shared by the fast CLI checks (:mod:`benchmark.suggest`) and the option
resolver (:mod:`benchmark.train.options`).
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

# words newcomers try, and the options they mean
ALIASES = {"lr": ("lr_g", "lr_d"), "learning_rate": ("lr_g", "lr_d"), "lr_gen": ("lr_g",), "lr_disc": ("lr_d",),
           "epochs": ("iterations",), "steps": ("iterations",), "iters": ("iterations",), "max_steps": ("iterations",),
           "batch": ("batch_size",), "bs": ("batch_size",), "dataset": ("data",), "model": ("variant",),
           "objective": ("variant",), "gp": ("gp_weight",), "lambda_gp": ("gp_weight",), "out": ("results_dir",),
           "output": ("results_dir",), "outdir": ("results_dir",), "gpus": ("devices",), "critic_steps": ("n_critic",),
           "d_steps": ("n_critic",)}


def canonical(name: Any) -> str:
    """``wgan-gp`` -> ``wgan_gp``: flags and names are spelled with either."""
    return str(name).strip().replace("-", "_")


def close_names(name: str, choices: Iterable[str], n: int = 4) -> list[str]:
    """The choices ``name`` most likely meant: an alias, the names it prefixes (``lr`` -> ``lr_g``), difflib's."""
    choices = sorted(set(choices))
    key = canonical(name).lower()
    out = [c for c in ALIASES.get(key, ()) if c in choices]
    if len(key) >= 2:
        out += [c for c in choices if c.startswith(key + "_") or c.endswith("_" + key)]
    out += difflib.get_close_matches(key, choices, n=n, cutoff=0.6)
    return list(dict.fromkeys(out))[:n]


def unknown_option_message(name: str, valid: Iterable[str], variant: str, data: str) -> str:
    """One line for an unknown option: the close names as flags, else every valid name (the list is long)."""
    valid = sorted(valid)
    near = close_names(name, valid)
    head = f"unknown option {name!r} for variant {variant!r} on dataset {data!r}"
    if near:
        flags = ", ".join("--" + c.replace("_", "-") for c in near)
        return (f"{head}; did you mean {flags}? (`python -m benchmark options --variant {variant} --data {data}` "
                f"lists all {len(valid)})")
    return f"{head}; valid options: {', '.join(valid)}"
