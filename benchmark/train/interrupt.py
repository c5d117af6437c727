"""SIGTERM / SIGINT / SIGHUP during training: stop cleanly, checkpoint, record the run as ``interrupted``.

SLURM and Kubernetes stop a job with SIGTERM (then SIGKILL after a grace period); Ctrl-C is SIGINT; a closed
terminal or SSH session is SIGHUP (whose default action would kill the run with no record). Exiting 0
with nothing saved reads as success to them. :func:`catch_signals` installs a handler that only sets
``STATE.signum``; :class:`StopOnSignal` sees it at the next Lightning batch end (a Python attribute read, no
device sync), writes a checkpoint when checkpointing is on and sets ``trainer.should_stop``. The run record then
says ``interrupted`` with the iteration reached, and the CLI exits ``128 + signum`` (143 SIGTERM, 130 SIGINT,
129 SIGHUP).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from dataclasses import dataclass
from typing import Iterator

import pytorch_lightning as pl

SIGNALS = (signal.SIGTERM, signal.SIGINT) + ((signal.SIGHUP,) if hasattr(signal, "SIGHUP") else ())


@dataclass
class InterruptState:
    signum: int = 0                     # the first SIGTERM/SIGINT/SIGHUP received while handlers are installed

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum else ""

    @property
    def exit_code(self) -> int:
        return 128 + self.signum if self.signum else 0


STATE = InterruptState()


class Interrupted(BaseException):
    """Raised by :func:`catch_signals` ``(raise_interrupt=True)`` where a SIGTERM/SIGINT lands (a
    ``BaseException``, like ``KeyboardInterrupt``: ``except Exception`` blocks do not swallow it)."""


def _handler(signum, frame) -> None:
    if not STATE.signum:
        STATE.signum = signum


def _raising_handler(signum, frame) -> None:
    _handler(signum, frame)
    raise Interrupted(signum)


@contextlib.contextmanager
def catch_signals(raise_interrupt: bool = False) -> Iterator[InterruptState]:
    """Record SIGTERM/SIGINT/SIGHUP in ``STATE`` instead of dying (main thread only; elsewhere a no-op). The previous
    handlers are restored on exit; a signal received stays in ``STATE`` for the caller to act on. With
    ``raise_interrupt`` the signal also raises :class:`Interrupted` in the block (work that can stop at any
    point, e.g. scoring a model whose checkpoint is on disk)."""
    if threading.current_thread() is not threading.main_thread():
        yield STATE
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        signal.signal(s, _raising_handler if raise_interrupt else _handler)
    try:
        yield STATE
    finally:
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)


def install_persistent() -> None:
    """Record SIGTERM/SIGINT/SIGHUP in ``STATE`` for the rest of the process (a sweep's worker processes)."""
    for s in SIGNALS:
        signal.signal(s, _handler)


class StopOnSignal(pl.Callback):
    """Stop the Trainer at the batch end after a signal; checkpoint first when ``checkpoint`` saves."""

    def __init__(self, checkpoint=None) -> None:
        self.checkpoint = checkpoint          # a RunCheckpoint (saves only when its period is > 0)
        self.stopped_at: int | None = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if not STATE.signum or self.stopped_at is not None:
            return
        self.stopped_at = int(pl_module.iteration)
        if self.checkpoint is not None and getattr(self.checkpoint, "every", 0) > 0:
            self.checkpoint.save(trainer, pl_module.iteration)
        trainer.should_stop = True


def interrupted_exit(record: dict) -> int:
    """One line for a run stopped by SIGTERM/SIGINT; the exit status 128 + signum (143 / 130)."""
    kept = (f"checkpoint {record['checkpoint']} kept: re-run the same command to resume" if record.get("checkpoint")
            else "no checkpoint (checkpoint_every=0): a re-run starts over; use --checkpoint-every N to resume")
    print(f"{record['run_id']}: interrupted by {record.get('signal') or STATE.name} at iteration "
          f"{record['steps']}; {kept}", flush=True)
    return STATE.exit_code or 143
