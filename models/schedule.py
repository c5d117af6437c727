"""Which optimiser steps a batch gets: ``n_critic`` D steps per G step, or seed 002's stop criteria.

A mixin of :class:`models.base.GANModule`; its state (``_batch_in_iteration``, ``_stop_phase``,
``_stop_count``) is plain Python, saved in the checkpoint by the module.
"""
from __future__ import annotations


class CriticSchedule:
    """The D/G schedule. The host class provides ``cfg`` and ``has_discriminator``."""

    def init_schedule(self) -> None:
        self._batch_in_iteration = 0
        self._stop_phase, self._stop_count = "d", 0

    def schedule(self) -> tuple[bool, bool]:
        """(do a D step, do a G step) for this batch: n_critic D steps per G step, or the stop criteria."""
        if not self.has_discriminator:
            return False, True
        if self.cfg.stop_d_above is not None or self.cfg.stop_g_below is not None:
            return (self._stop_phase == "d"), (self._stop_phase == "g")
        self._batch_in_iteration += 1
        if self._batch_in_iteration >= self.critic_steps():
            self._batch_in_iteration = 0
            return True, True
        return True, False

    def critic_steps(self) -> int:
        """D steps before the G step of the current iteration (``n_critic``; a variant may vary it)."""
        return self.cfg.n_critic

    def _stop_criteria_on(self) -> bool:
        return self.has_discriminator and (self.cfg.stop_d_above is not None or self.cfg.stop_g_below is not None)

    def _advance_stop_phase(self, phase: str, value: float, done) -> None:
        # seed 002 stop criteria: `while loss > C1: train D` then `while loss < C2: train G`, each bounded
        self._stop_count += 1
        if done(value) or self._stop_count >= self.cfg.stop_max_steps:
            self._stop_phase, self._stop_count = ("g" if phase == "d" else "d"), 0
