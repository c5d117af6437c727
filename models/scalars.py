"""Training scalars kept on the device between flushes, and the attribute fast path of the module.

:class:`ScalarLog` accumulates detached device tensors in python lists (no tensor op and no host sync per
step), flushes their means every ``log_every`` iterations with one sync, and on a non-finite D or G loss
finds the first bad iteration of the window. :class:`PlainAttributes` makes setting plain Python attributes
cheap on an ``nn.Module``. Both are mixins of :class:`models.base.GANModule`.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor


class PlainAttributes:
    """``__setattr__`` without ``nn.Module``'s checks for plain values already in ``__dict__``."""

    _PLAIN = (int, float, str, bool, type(None))

    def __setattr__(self, name: str, value: Any) -> None:
        # Fast path for plain Python bookkeeping that already lives in __dict__ (Lightning sets
        # `_current_fx_name` ~20 times per batch; our counters once): nn.Module's checks only matter for
        # tensors, parameters and modules, and a name in __dict__ cannot be a parameter, buffer or submodule.
        if type(value) in self._PLAIN and name in self.__dict__:
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)


class ScalarLog:
    """Scalars (and score vectors) tracked since the last flush, each with the iteration it belongs to.

    The host class provides ``iteration``, ``history``, ``diverged_at``, ``score_is_logit``, ``logger`` and
    ``trainer``.
    """

    def init_scalars(self) -> None:
        # detached device tensors in python lists, so tracking costs no tensor op per step
        self._pending: dict[str, list[Tensor]] = {}
        self._pending_at: dict[str, list[int]] = {}

    def track(self, name: str, value: Tensor) -> None:
        """Keep a scalar (or a vector of per-sample values) on the device; the mean over everything tracked
        under ``name`` since the last flush is logged at the next flush. No tensor op, no host sync."""
        self._pending.setdefault(name, []).append(value.detach())
        self._pending_at.setdefault(name, []).append(self.iteration)

    def tracked_mean(self, name: str) -> float:
        """Mean of what was tracked under ``name`` since the last flush (a host sync: for tests and debugging)."""
        return float(torch.cat([t.reshape(-1) for t in self._pending[name]]).float().mean())

    LOSSES: ClassVar[tuple[str, ...]] = ("d_loss", "g_loss")

    def _first_nonfinite_iteration(self) -> int | None:
        """The first iteration of the window whose D or G loss was NaN/Inf (a second sync, only on divergence)."""
        firsts = []
        for name in self.LOSSES:
            if name in self._pending:
                ok = torch.isfinite(torch.stack(self._pending[name]).float()).tolist()
                if not all(ok):
                    firsts.append(self._pending_at[name][ok.index(False)])
        return min(firsts) if firsts else None

    def flush_logs(self) -> None:
        """Average what was tracked since the last flush (one host sync), record it in ``history``, send it to
        the logger, and stop the run if a loss went non-finite (with the first bad iteration)."""
        names = list(self._pending)
        means = []
        for n in names:
            v = torch.cat([t.reshape(-1) for t in self._pending[n]]).float()
            if n in ("d_real", "d_fake") and self.score_is_logit:
                v = torch.sigmoid(v)                          # D(x) = σ(logit)
            means.append(v.mean())
        losses = [torch.stack(self._pending[n]) for n in self.LOSSES if n in self._pending]
        finite = torch.stack([torch.isfinite(t).all() for t in losses]).all() if losses else torch.tensor(True)
        values = torch.stack([*means, finite.to(means[0].dtype if means else torch.float32)]).tolist()
        row = {"iteration": self.iteration, **dict(zip(names, values[:-1]))}
        first_bad = None if values[-1] else self._first_nonfinite_iteration()
        self._pending, self._pending_at = {}, {}
        self.history.append(row)
        if self.logger is not None and names:
            self.logger.log_metrics({f"train/{k}": v for k, v in row.items() if k != "iteration"},
                                    step=self.iteration)
        bad = first_bad is not None
        if self.trainer is not None and self.trainer.world_size > 1:
            bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
        if bad:
            self.diverged_at = first_bad if first_bad is not None else self.iteration
            self.trainer.should_stop = True
