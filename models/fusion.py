"""Fused steps: ``k`` GAN iterations per Lightning ``training_step``, in one place.

Lightning's per-batch dispatch (fetch, hooks, progress) is a fixed cost per ``training_step``, noticeable on small
models (``python -m benchmark perf`` measures it); fusing ``k`` iterations pays it once per ``k``. The batches, their
order and the maths are unchanged (tests/train/test_fused_steps.py compares parameters bit for bit).

- :func:`fused_iterations` chooses ``k`` for a run (the runner's options: ``fuse_iterations``, callback periods);
- :class:`StepFusion`, owned by the module (``module.fusion``), is ``k`` and the batches per step; it sets the
  datamodule's loader to stack that many batches (:meth:`StepFusion.attach`) and trains a stacked batch one
  batch at a time (:meth:`StepFusion.train`). The stacking itself is the loader's
  (:class:`datamodules.base.TensorBatchLoader`'s ``stack``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Iterable

from torch import Tensor

from .config import ConfigError

if TYPE_CHECKING:
    from .base import GANModule

FUSE_MAX = 16                  # auto fusing: at most this many GAN iterations per Lightning step ...
FUSE_MAX_BYTES = 64 * 2 ** 20  # ... and at most this much float32 data in one stacked batch


def fused_iterations(requested: int, periods: Iterable[int], stop_criteria: bool, batches_per_iteration: int,
                     batch_bytes: int) -> int:
    """GAN iterations per Lightning ``training_step``.

    ``requested`` (the run's ``fuse_iterations``) > 1 is taken as is; 1 turns fusing off; 0 (auto) picks the
    largest ``k <= FUSE_MAX`` that divides every callback period in ``periods`` (they fire between Lightning
    steps) and keeps a stacked batch (``k * batches_per_iteration`` batches of ``batch_bytes``) under
    ``FUSE_MAX_BYTES``. Always 1 under the stop criteria, whose phases have no fixed length.

    Raises:
        ConfigError: an explicit ``requested > 1`` with the stop criteria, or one that does not divide a period.
    """
    periods = [p for p in periods if p > 0]
    k = requested
    if k > 1:
        if stop_criteria:
            raise ConfigError(f"fuse_iterations={k} cannot be used with the stop criteria (stop_d_above/"
                              "stop_g_below): their phases have no fixed length; use fuse_iterations=1")
        bad = [p for p in periods if p % k]
        if bad:
            raise ConfigError(f"fuse_iterations={k} must divide every callback period (eval_every, "
                              f"sample_every, checkpoint_every, ...: got {sorted(set(periods))}): use 0 (auto) "
                              "or a divisor of each")
        return k
    if k == 1 or stop_criteria:
        return 1
    cap = max(1, min(FUSE_MAX, FUSE_MAX_BYTES // max(1, batches_per_iteration * batch_bytes)))
    g = math.gcd(*periods) if periods else 0
    return max(d for d in range(1, cap + 1) if g % d == 0)


def batches_per_iteration(module_cls: Any, n_critic: int) -> int:
    """Batches one GAN iteration trains on: ``n_critic`` D steps' worth with a discriminator, else one."""
    return n_critic if module_cls.has_discriminator else 1


class StepFusion:
    """``iterations`` GAN iterations (``batches`` stacked batches) per Lightning ``training_step``."""

    def __init__(self, iterations: int = 1, batches_per_iteration: int = 1) -> None:
        self.iterations = iterations
        self.batches = iterations * batches_per_iteration

    @classmethod
    def of(cls, module: "GANModule", iterations: int) -> "StepFusion":
        return cls(iterations, batches_per_iteration(module, module.cfg.n_critic))

    def attach(self, module: "GANModule", datamodule: Any) -> None:
        """Make ``module`` train, and ``datamodule``'s training loader stack, ``batches`` batches per step."""
        module.fusion = self
        datamodule.batches_per_step = self.batches

    def train(self, module: "GANModule", batch: tuple[Tensor, Tensor]) -> None:
        """Train ``module`` on one loader item: one batch, or a stack of ``batches`` consecutive batches trained in
        order (the same batches as that many Lightning steps, so the maths is unchanged), stopping early when
        the run stops inside the stack (budget reached, or diverged)."""
        x, y = batch
        if self.batches == 1:
            module.train_on_batch(x, y)
            return
        if x.dim() != len(module.data_shape) + 2:
            raise RuntimeError(f"the module fuses {self.batches} batches per step and expects stacked batches (S, B, "
                               f"*{module.data_shape}) from TensorBatchLoader(stack=S), got shape {tuple(x.shape)}: "
                               "set the datamodule's batches_per_step to the same value (StepFusion.attach does "
                               "both), or the module's fusion to StepFusion()")
        labelled = y.numel() > 0
        for i in range(x.shape[0]):
            module.train_on_batch(x[i], y[i] if labelled else y)
            if module.trainer.should_stop:
                break
