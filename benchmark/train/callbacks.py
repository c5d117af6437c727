"""Lightning callbacks the runner adds to a run's ``Trainer``.

:class:`SampleLogger` sends a sample plot to the run's W&B logger every ``every_n_iterations`` GAN iterations, so
the W&B run shows the samples evolving over training (the final plot is logged by
:func:`benchmark.train.tracking.log_final`).
"""
from __future__ import annotations

import time
from typing import Any

import pytorch_lightning as pl
import torch

from ..samples import keep_samples, sample_image
from ..score.toy import mode_statistics
from .rng import isolated_rng


class PeriodicCallback(pl.Callback):
    """A callback that acts every ``every`` GAN iterations (0 = never), once per iteration.

    :meth:`due` is checked at the end of each Lightning step: with ``n_critic > 1`` several batches share an
    iteration, so it fires at most once per multiple. The runner reads :attr:`every_n_iterations` so that fused
    steps (``--fuse-iterations``) end on every multiple; a user callback with that attribute is honoured too.
    """

    def __init__(self, every: int) -> None:
        self.every = every
        self._last = -1                  # the iteration it last fired at

    @property
    def every_n_iterations(self) -> int:
        return self.every

    def due(self, iteration: int) -> bool:
        """True (once) when ``iteration`` is a positive multiple of ``every``."""
        if not self.every or iteration <= 0 or iteration % self.every or iteration == self._last:
            return False
        self._last = iteration
        return True


class SampleLogger(PeriodicCallback):
    """Log a sample plot (image grid or 2-D scatter with the modes) every ``every_n_iterations`` GAN iterations.

    Cheap: on other batches it compares two Python ints; the work (``num_samples`` generator samples from a fixed
    noise seed, one plot) happens only at the logging iterations, on global rank zero. The global RNG state is
    isolated around the sampling (:func:`benchmark.train.rng.isolated_rng`), so a run's training is
    bit-identical with and without this callback.

    For 2-D mixtures it also computes the mode statistics (``modes_covered``, ``modes_covered_strict``,
    ``high_quality``, ``reverse_kl``) of the samples, logs them as ``eval/<name>`` and adds them to the history
    row of that iteration (when ``every_n_iterations`` is a multiple of the model's ``log_every``), which the HTML
    report plots as metric vs GAN iteration.

    Args:
        every_n_iterations: GAN iterations between plots (> 0). The last iteration is skipped: the runner logs
            the final samples itself.
        num_samples: samples per plot (images: the first 100 are drawn; points: all; the mode statistics use
            them all, so the default matches the toy metric protocol's 2,500).
        seed: seed of the fixed noise, the same at every logging iteration.

    Raises:
        ValueError: ``every_n_iterations`` or ``num_samples`` < 1.
    """

    def __init__(self, every_n_iterations: int, num_samples: int = 2500, seed: int = 0) -> None:
        if every_n_iterations < 1 or num_samples < 1:
            raise ValueError(f"every_n_iterations={every_n_iterations} and num_samples={num_samples} must be >= 1")
        super().__init__(every_n_iterations)
        self.num_samples, self.seed = num_samples, seed

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        it = int(getattr(pl_module, "iteration", 0))
        if it >= pl_module.cfg.iterations or not self.due(it):
            return
        if not trainer.is_global_zero or trainer.logger is None:
            return
        self.log_samples(trainer.logger, trainer.datamodule, pl_module, it)

    def log_samples(self, logger: Any, dm: Any, pl_module: Any, iteration: int) -> None:
        """One plot of ``pl_module``'s samples (and, for 2-D mixtures, their mode statistics) to ``logger``."""
        kind = getattr(dm, "kind", "image")
        n = min(self.num_samples, 100) if kind == "image" else self.num_samples
        with isolated_rng(self.seed):
            samples = pl_module.sample(n)
        samples = torch.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
        modes = dm.known_modes()
        arr = keep_samples(samples, kind)
        title = f"{pl_module.name} on {getattr(dm, 'name', '')}, iteration {iteration}"
        image = sample_image(arr, kind, modes.numpy() if modes is not None else None, title)
        logger.log_image(key="samples", images=[image], step=iteration,
                                 caption=[f"iteration {iteration}"])
        if modes is not None and kind == "points":
            stats = mode_statistics(samples.cpu().float(), modes, dm.std)
            logger.log_metrics({f"eval/{k}": v for k, v in stats.items()}, step=iteration)
            history = getattr(pl_module, "history", None)
            if history and history[-1].get("iteration") == iteration:
                history[-1].update(stats)


class LoopTimer(pl.Callback):
    """Wall time of the training loop alone (first batch start to train end): no Trainer or W&B set-up."""

    def __init__(self) -> None:
        self.t0: float | None = None
        self.loop_s: float | None = None

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        if self.t0 is None:
            self.t0 = time.perf_counter()

    def on_train_end(self, trainer, pl_module) -> None:
        if self.t0 is not None:
            self.loop_s = time.perf_counter() - self.t0
