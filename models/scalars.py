"""Training scalars kept on the device between flushes: the :class:`ScalarLog` a module owns.

:class:`ScalarLog` accumulates detached device tensors in python lists (no tensor op and no host sync per
step) and, at a flush, averages them with one sync and, on a non-finite D or G loss, finds the first bad
iteration of the window. It is owned by :class:`models.base.GANModule` (``module.scalars``), which decides
when to flush and what to do with the row; its :meth:`ScalarLog.state_dict` is what a checkpoint keeps of it.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor


class ScalarLog:
    """Scalars (and score vectors) tracked since the last flush, each with the iteration it belongs to."""

    LOSSES: ClassVar[tuple[str, ...]] = ("d_loss", "g_loss")     # a non-finite one of these is a divergence

    def __init__(self) -> None:
        # detached device tensors in python lists, so tracking costs no tensor op per step
        self.pending: dict[str, list[Tensor]] = {}
        self.pending_at: dict[str, list[int]] = {}

    def track(self, name: str, value: Tensor, iteration: int) -> None:
        """Keep a scalar (or a vector of per-sample values) of ``iteration`` on the device. No tensor op, no sync."""
        self.pending.setdefault(name, []).append(value.detach())
        self.pending_at.setdefault(name, []).append(iteration)

    def mean(self, name: str) -> float:
        """Mean of what was tracked under ``name`` since the last flush (a host sync: for tests and debugging)."""
        return float(torch.cat([t.reshape(-1) for t in self.pending[name]]).float().mean())

    def drain(self) -> dict[str, list[Tensor]]:
        """What was tracked since the last flush, by name; the log is empty afterwards (no sync)."""
        tracked = self.pending
        self.pending, self.pending_at = {}, {}
        return tracked

    def first_nonfinite_iteration(self) -> int | None:
        """The first iteration of the window whose D or G loss was NaN/Inf (a second sync, only on divergence)."""
        firsts = []
        for name in self.LOSSES:
            if name in self.pending:
                ok = torch.isfinite(torch.stack(self.pending[name]).float()).tolist()
                if not all(ok):
                    firsts.append(self.pending_at[name][ok.index(False)])
        return min(firsts) if firsts else None

    def flush(self, iteration: int, score_is_logit: bool) -> tuple[dict[str, float], int | None]:
        """The history row of the window (``{"iteration": iteration, name: mean, ...}``, one host sync; ``d_real``
        and ``d_fake`` as D(x) = σ(logit) when ``score_is_logit``) and the first iteration whose D or G loss was
        non-finite (``None`` when all were finite); the log is empty afterwards."""
        names = list(self.pending)
        means = []
        for n in names:
            v = torch.cat([t.reshape(-1) for t in self.pending[n]]).float()
            if n in ("d_real", "d_fake") and score_is_logit:
                v = torch.sigmoid(v)                          # D(x) = σ(logit)
            means.append(v.mean())
        losses = [torch.stack(self.pending[n]) for n in self.LOSSES if n in self.pending]
        finite = torch.stack([torch.isfinite(t).all() for t in losses]).all() if losses else torch.tensor(True)
        values = torch.stack([*means, finite.to(means[0].dtype if means else torch.float32)]).tolist()
        row = {"iteration": iteration, **dict(zip(names, values[:-1]))}
        first_bad = None if values[-1] else self.first_nonfinite_iteration()
        self.pending, self.pending_at = {}, {}
        return row, first_bad

    # ------------------------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        """What was tracked since the last flush (on the CPU), so a resumed history is identical."""
        return {"pending": {k: [t.cpu() for t in v] for k, v in self.pending.items()},
                "pending_at": {k: list(v) for k, v in self.pending_at.items()}}

    def load_state_dict(self, state: dict[str, Any], device: torch.device | str = "cpu") -> None:
        self.pending = {k: [t.to(device) for t in v] for k, v in state.get("pending", {}).items()}
        self.pending_at = {k: list(v) for k, v in state.get("pending_at", {}).items()}

