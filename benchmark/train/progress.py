"""Live progress of a run in GAN iterations: it/s, ETA and the latest D/G loss, as a Lightning callback.

The display reads only python-side state of the module (``iteration``, an int, and ``history``, whose rows the
module flushes every ``log_every`` iterations): it adds no host sync to the training step. On a TTY it is one
line redrawn with a carriage return at most every ``min_interval`` seconds; on another stream (``--progress on``
into a file or pipe) it writes one line per ~10% of the run. ``--progress auto`` (the default) shows it on a TTY
and stays quiet when stdout is not a TTY or the environment variable ``CI`` is set. Under DDP only global rank 0
reports.

:class:`QueueReporter` is the same callback for a sweep worker process: it sends ``(label, iteration, total,
it/s)`` to the sweep parent, which draws the sweep's own progress line.
"""
from __future__ import annotations

import os
import sys
import time
from typing import Any, TextIO

import pytorch_lightning as pl

CLEAR = "\r\x1b[K"          # carriage return + erase to the end of the line
RATE_WINDOW = 8              # recent intervals whose median rate gives the ETA


def progress_enabled(mode: str, stream: TextIO | None = None) -> bool:
    """``on``/``off`` as given; ``auto``: on iff ``stream`` (default stdout) is a TTY and ``CI`` is not set."""
    if mode == "on":
        return True
    if mode == "off":
        return False
    stream = stream or sys.stdout
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty and not os.environ.get("CI")


def format_duration(seconds: float) -> str:
    """``75`` -> ``1:15``, ``3725`` -> ``1:02:05``; ``?`` when unknown."""
    if seconds is None or seconds != seconds or seconds < 0 or seconds == float("inf"):
        return "?"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def progress_line(iteration: int, total: int, rate: float | None, losses: dict[str, float], label: str = "",
                  elapsed: float = 0.0) -> str:
    """``label it 120/1000 (12%) 850 it/s ETA 0:01 D 1.31 G 0.72``."""
    pct = 100.0 * iteration / total if total else 0.0
    eta = (total - iteration) / rate if rate else None
    parts = [label] if label else []
    parts.append(f"it {iteration}/{total} ({pct:3.0f}%)")
    parts.append(f"{rate:,.0f} it/s" if rate else "- it/s")
    parts.append(f"elapsed {format_duration(elapsed)} ETA {format_duration(eta)}")
    for key, short in (("d_loss", "D"), ("g_loss", "G")):
        v = losses.get(key)
        if isinstance(v, (int, float)):
            parts.append(f"{short} {v:.4g}")
    return " ".join(parts)


class _IterationWatch(pl.Callback):
    """Shared bookkeeping: iterations and rate since the start of this fit (a resumed run starts mid-way)."""

    def __init__(self, min_interval: float = 0.5) -> None:
        self.min_interval = min_interval
        self.t0: float | None = None
        self.it0 = 0
        self.last_t = 0.0

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        self.t0 = time.perf_counter()
        self.it0 = int(getattr(pl_module, "iteration", 0))
        self.last_t = 0.0
        self.samples: list[tuple[float, int]] = [(self.t0, self.it0)]

    def state(self, pl_module: Any) -> tuple[int, int, float | None, float]:
        """``(iteration, total, rate, elapsed)``; the rate is the median over the recent intervals between
        calls (:data:`RATE_WINDOW`), so the start-up's slow first steps or one stall do not swing the ETA."""
        now = time.perf_counter()
        it = int(getattr(pl_module, "iteration", 0))
        total = int(getattr(getattr(pl_module, "cfg", None), "iterations", 0) or 0)
        elapsed = now - (self.t0 if self.t0 is not None else now)
        samples = getattr(self, "samples", None)
        if samples is None:
            samples = self.samples = [(self.t0 if self.t0 is not None else now, self.it0)]
        if now > samples[-1][0] and it > samples[-1][1]:
            samples.append((now, it))
            del samples[:-(RATE_WINDOW + 1)]
        rates = sorted((b[1] - a[1]) / (b[0] - a[0]) for a, b in zip(samples, samples[1:]))
        rate = rates[len(rates) // 2] if rates else None
        return it, total, rate, elapsed

    def due(self) -> bool:
        now = time.perf_counter()
        if now - self.last_t < self.min_interval:
            return False
        self.last_t = now
        return True


class ProgressDisplay(_IterationWatch):
    """Print a run's progress to ``stream`` (default stdout): a redrawn line on a TTY, else one line per ~10%.

    Args:
        label: text before the numbers (a sweep puts ``[k/n] variant data seed`` there).
        stream: where to write (default: ``sys.stdout`` at the time of writing).
        min_interval: seconds between redraws on a TTY.
        tty: redraw one line (``True``) or write whole lines (``False``); default: ``stream.isatty()``.
    """

    def __init__(self, label: str = "", stream: TextIO | None = None, min_interval: float = 0.5,
                 tty: bool | None = None) -> None:
        super().__init__(min_interval)
        self.label, self._stream, self._tty = label, stream, tty
        self._next_decile = 1
        self.lines = 0                  # updates written (for tests and curiosity)

    @property
    def stream(self) -> TextIO:
        return self._stream or sys.stdout

    def is_tty(self) -> bool:
        if self._tty is None:                   # asked once: isatty() is a system call, this runs every step
            try:
                self._tty = bool(self.stream.isatty())
            except (AttributeError, ValueError):
                self._tty = False
        return self._tty

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
        self.lines += 1

    def render(self, pl_module: Any) -> str:
        it, total, rate, elapsed = self.state(pl_module)
        history = getattr(pl_module, "history", None) or []
        return progress_line(it, total, rate, history[-1] if history else {}, self.label, elapsed)

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        super().on_train_start(trainer, pl_module)
        self._next_decile = 1
        if trainer.is_global_zero and self.is_tty():
            self._hook_warnings()
            self._write(CLEAR + self.render(pl_module))

    def _hook_warnings(self) -> None:
        """A warning shown while the line is drawn starts on a cleared line, not after the progress text."""
        import warnings

        shown = self._shown = warnings.showwarning

        def show(*args, **kwargs):
            self.stream.write(CLEAR)
            self.stream.flush()
            shown(*args, **kwargs)

        warnings.showwarning = show

    def _unhook_warnings(self) -> None:
        import warnings

        if getattr(self, "_shown", None) is not None:
            warnings.showwarning, self._shown = self._shown, None

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if not trainer.is_global_zero:
            return
        if self.is_tty():
            if self.due():
                self._write(CLEAR + self.render(pl_module))
            return
        it, total, _, _ = self.state(pl_module)
        if total and it * 10 >= self._next_decile * total:
            while it * 10 >= self._next_decile * total:
                self._next_decile += 1
            self._write(self.render(pl_module) + "\n")

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if not trainer.is_global_zero:
            return
        if self.is_tty():
            self._unhook_warnings()
            # clear the line (keeping the label): the caller prints the run's result in its place
            self._write(CLEAR + (self.label + " " if self.label else ""))


class QueueReporter(_IterationWatch):
    """Send ``(label, iteration, total, it/s)`` to ``queue`` at most every ``min_interval`` s (sweep workers)."""

    def __init__(self, queue: Any, label: str, min_interval: float = 0.5) -> None:
        super().__init__(min_interval)
        self.queue, self.label = queue, label

    def _send(self, pl_module: Any) -> None:
        it, total, rate, _ = self.state(pl_module)
        try:
            self.queue.put_nowait((self.label, it, total, rate))
        except Exception:                # a full or closed queue never stops training
            pass

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        super().on_train_start(trainer, pl_module)
        if trainer.is_global_zero:
            self._send(pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        if trainer.is_global_zero and self.due():
            self._send(pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        if trainer.is_global_zero:
            self._send(pl_module)


def run_progress_callback(mode: str, extra: list) -> list:
    """The progress callback a run adds for ``--progress mode``: none when off or when ``extra`` has one."""
    if any(isinstance(cb, _IterationWatch) for cb in extra) or not progress_enabled(mode):
        return []
    return [ProgressDisplay()]


__all__ = ["ProgressDisplay", "QueueReporter", "progress_enabled", "progress_line", "format_duration",
           "run_progress_callback"]
