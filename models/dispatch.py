"""How the training step calls backward, steps the optimisers and freezes D: Lightning's dispatch or a lean one.

:class:`Dispatch` is bound once per fit by :meth:`models.base.GANModule.dispatch`; both paths give the same
numbers (tests/train/test_fused_steps.py compares parameters bit for bit).
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch
from torch import Tensor

if TYPE_CHECKING:
    from .base import GANModule


_NO_OP_HOOKS = ("on_before_backward", "on_after_backward", "on_before_optimizer_step")
# the private attributes of LightningOptimizer that step_with_lightning_progress calls (Lightning 2.x)
_PROGRESS_HOOKS = ("_on_before_step", "_on_after_step")


def step_with_lightning_progress(lightning_opt, opt: torch.optim.Optimizer) -> None:
    """``opt.step()`` with Lightning's bookkeeping around it, as ``lightning_opt.step()`` does it: the one place
    GANBench calls a private Lightning API.

    ``LightningOptimizer.step()`` wraps the strategy's step in ``_on_before_step``/``_on_after_step``, which the
    manual-optimisation loop binds per training step to advance its optimiser-step progress (``global_step``)
    and to time the step in the profiler. Lightning has no public call for that progress without the strategy's
    dispatch (the hooks lean dispatch skips), so it is called here, and only here. If a Lightning release drops
    these attributes, :meth:`Dispatch.lean_is_exact` falls back to Lightning's dispatch (slower, same numbers),
    and tests/train/test_fused_steps.py fails loudly (it requires lean dispatch and Lightning's step count).
    """
    lightning_opt._on_before_step()
    opt.step()
    lightning_opt._on_after_step()


def _as_list(x) -> list:
    return [] if x is None else (x if isinstance(x, list) else [x])


class Dispatch:
    """How the step calls backward, steps the optimisers and freezes D, bound once per fit.

    Lightning's manual optimisation routes every ``manual_backward`` and ``optimizer.step()`` through the
    strategy and the precision plugin, which call the ``on_before_backward``, ``on_after_backward`` and
    ``on_before_optimizer_step`` hooks of every callback and of the module (a cost ``benchmark perf`` measures:
    it matters on small models). **Lean** dispatch calls ``loss.backward()`` and the optimiser's ``step()`` directly, and
    is used only when that is *exactly* what Lightning would do: one device (no DDP gradient hooks to
    prepare), full precision or bf16 autocast (no gradient scaler), and none of those hooks, nor the module's
    ``backward``, overridden by the module or any callback. Lightning's optimiser-step progress (its
    ``global_step``) still advances. Anything else (DDP, fp16, a callback that inspects gradients) goes
    through Lightning (``manual_backward``, ``LightningOptimizer.step``, ``toggled_optimizer``).
    """

    def __init__(self, module: "GANModule") -> None:
        opts = _as_list(module.optimizers())
        self.lightning_d, self.lightning_g = (opts[0], opts[1]) if module.has_discriminator else (None, opts[0])
        self.schedulers = _as_list(module.lr_schedulers())
        self.lean = self.lean_is_exact(module)
        self.module = module
        if self.lean:
            self.opt_d = self.lightning_d.optimizer if self.lightning_d is not None else None
            self.opt_g = self.lightning_g.optimizer
            self.backward = self._backward
            self.step = self._lean_step
            # what toggled_optimizer(opt_g) freezes for the G step: the other optimisers' parameters (D's)
            g_params = {id(p) for group in self.opt_g.param_groups for p in group["params"]}
            d_groups = self.opt_d.param_groups if self.opt_d is not None else []
            self.frozen = [p for group in d_groups for p in group["params"]
                           if p.requires_grad and id(p) not in g_params]
        else:
            self.opt_d, self.opt_g = self.lightning_d, self.lightning_g
            self.backward = module.manual_backward
            self.step = self._lightning_step

    @staticmethod
    def lean_is_exact(module: "GANModule") -> bool:
        from pytorch_lightning.plugins.precision import MixedPrecision, Precision
        from pytorch_lightning.strategies import SingleDeviceStrategy

        trainer = module.trainer
        strategy = trainer.strategy
        plugin = strategy.precision_plugin
        if type(strategy) is not SingleDeviceStrategy:
            return False
        # a Lightning without the private hooks of step_with_lightning_progress: its own dispatch, not a guess
        if not all(hasattr(o, name) for o in _as_list(module.optimizers()) for name in _PROGRESS_HOOKS):
            return False
        if not (type(plugin) is Precision or (type(plugin) is MixedPrecision and plugin.scaler is None)):
            return False
        if type(module).backward is not pl.LightningModule.backward:
            return False
        for hook in _NO_OP_HOOKS:
            if getattr(type(module), hook) is not getattr(pl.LightningModule, hook):
                return False
            if any(getattr(type(cb), hook) is not getattr(pl.Callback, hook) for cb in trainer.callbacks):
                return False
        return True

    @staticmethod
    def _backward(loss: Tensor) -> None:
        loss.backward()

    def _lean_step(self, opt: torch.optim.Optimizer) -> None:
        lightning = self.lightning_d if opt is self.opt_d else self.lightning_g
        step_with_lightning_progress(lightning, opt)

    @staticmethod
    def _lightning_step(opt) -> None:
        opt.step()

    def toggle_g(self):
        """Freeze D for the generator step (``toggled_optimizer``'s effect)."""
        return self._frozen() if self.lean else self.module.toggled_optimizer(self.opt_g)

    @contextmanager
    def _frozen(self):
        for p in self.frozen:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in self.frozen:
                p.requires_grad_(True)
