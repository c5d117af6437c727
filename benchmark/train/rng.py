"""RNG states of a process (torch, numpy, python, CUDA) as checkpointable values, and isolation from them."""
from __future__ import annotations

import random
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """This process's RNG states as tensors and plain values (safe for ``weights_only`` loading)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, py_state, gauss = random.getstate()
    state = {"torch": torch.get_rng_state(),
             "numpy": {"kind": kind, "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64)), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
             "python": {"version": version, "state": list(py_state), "gauss": gauss}}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def reseed_rank(seed: int, rank: int) -> None:
    """Rank ``r > 0`` of a distributed run draws its own noise (rank 0 keeps the single-process stream)."""
    if rank > 0:
        s = (seed + 1_000_003 * rank) % (2 ** 32)
        torch.manual_seed(s)
        np.random.seed(s)
        random.seed(s)


@contextmanager
def isolated_rng(seed: int | None = None, modules: Any = None) -> Iterator[None]:
    """Run the body on its own random stream and leave the caller's untouched: every RNG state (torch, numpy,
    python, CUDA) is saved, torch is seeded with ``seed``, and all is restored afterwards, even on an error.
    With ``modules`` (an ``nn.Module``), the train/eval mode of each of its submodules is restored too.

    What a periodic callback does between training steps (sample plots, in-training scores, mode traces), so a
    run trains bit-identically with and without it.
    """
    state = rng_state()
    training = {m: m.training for m in modules.modules()} if modules is not None else {}
    try:
        if seed is not None:
            torch.manual_seed(seed)
        yield
    finally:
        set_rng_state(state)
        for m, mode in training.items():
            m.training = mode
