"""Which optimiser steps a batch gets: ``n_critic`` D steps per G step, or seed 002's stop criteria.

:class:`CriticSchedule` is owned by :class:`models.base.GANModule` (``module.critic_schedule``); its state is
plain Python, and :meth:`CriticSchedule.state_dict` is what a checkpoint keeps of it.
"""
from __future__ import annotations

from typing import Any, Callable

from .config import GANConfig


class CriticSchedule:
    """The D/G schedule of a module with config ``cfg`` (``has_discriminator``: without D every batch is a G step)."""

    def __init__(self, cfg: GANConfig, has_discriminator: bool) -> None:
        self.cfg = cfg
        self.has_discriminator = has_discriminator
        self.batch_in_iteration = 0
        self.stop_phase, self.stop_count = "d", 0

    @property
    def stop_criteria(self) -> bool:
        """Seed 002's stop criteria replace ``n_critic`` (either bound set, and a discriminator to train)."""
        return self.has_discriminator and (self.cfg.stop_d_above is not None or self.cfg.stop_g_below is not None)

    def next(self, critic_steps: Callable[[], int]) -> tuple[bool, bool]:
        """(do a D step, do a G step) for this batch: ``critic_steps()`` D steps per G step (the module's, which a
        variant may vary), or the stop criteria's phase."""
        if not self.has_discriminator:
            return False, True
        if self.stop_criteria:
            return (self.stop_phase == "d"), (self.stop_phase == "g")
        self.batch_in_iteration += 1
        if self.batch_in_iteration >= critic_steps():
            self.batch_in_iteration = 0
            return True, True
        return True, False

    def advance_stop_phase(self, phase: str, value: float, done: Callable[[float], bool]) -> None:
        """After a step of ``phase`` (``"d"`` or ``"g"``) whose game value was ``value``: switch phase when ``done``
        says the criterion is met or after ``stop_max_steps`` steps."""
        # seed 002 stop criteria: `while loss > C1: train D` then `while loss < C2: train G`, each bounded
        self.stop_count += 1
        if done(value) or self.stop_count >= self.cfg.stop_max_steps:
            self.stop_phase, self.stop_count = ("g" if phase == "d" else "d"), 0

    # ------------------------------------------------------------------------------- checkpointing
    def state_dict(self) -> dict[str, Any]:
        return {"batch_in_iteration": self.batch_in_iteration, "stop_phase": self.stop_phase,
                "stop_count": self.stop_count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.batch_in_iteration = state.get("batch_in_iteration", 0)
        self.stop_phase, self.stop_count = state.get("stop_phase", "d"), state.get("stop_count", 0)
