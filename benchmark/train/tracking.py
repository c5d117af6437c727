"""Weights & Biases through Lightning's ``WandbLogger``: offline without a key, never prompting, never killing a run.

What a W&B run of GANBench holds, and the decisions behind it:

- **Config** nested in three sections, ``run`` (the run's identity: ``run_id``, ``variant``, ``data``, ``seed``,
  ``metrics``, ...), ``model`` (the variant's ``Config`` with every default, plus what the module saves as
  hyper-parameters: ``data_shape``, ``num_classes``, ``data_kind``) and ``data`` (the datamodule's options and
  its ``name``), so the workspace groups and filters on ``model.lr_g`` or ``data.batch_size``.
- ``job_type="train"``; ``group`` is the sweep's name (``RunOptions.group``, set by ``benchmark sweep``), none
  for a single ``run``. The W&B *name* is the benchmark's run id.
- **x-axis**: every point is logged with ``iteration`` (GAN iterations) and ``define_metric("*",
  step_metric="iteration")``; there is no ``trainer/global_step`` (Lightning's counts optimiser steps).
- **Never inf/NaN**: a non-finite value is left out of its history row and the summary gets
  ``nonfinite/<key>`` = the first iteration it happened at; a non-finite final score is ``final/<k> = None``
  with ``nonfinite/final/<k>`` = ``"inf"``/``"-inf"``/``"nan"``.
- **W&B id** = ``<run id>-<UTC yymmddHHMMSS><6 hex>``, a new one per attempt, never ``resume``: a re-run of
  the same configuration (a retry after a failure, a resumed checkpoint, a second results directory) is a
  second W&B run with the same name, in the same group, instead of one that overwrites the first on ``wandb
  sync``. Filter on ``run.run_id`` to see every attempt of one configuration; a resumed training starts its
  history at the resumed iteration, so the attempts line up on the ``iteration`` axis.
- **Tracking never kills training**: online ``wandb.init`` gives up after ``INIT_TIMEOUT_S`` (15 s, W&B's
  default is 90 s; ``WANDB_INIT_TIMEOUT`` overrides), also when ``wandb.init`` itself hangs, and the run
  falls back to offline (``wandb sync`` it later) with one warning line; if even offline fails, the run
  trains without tracking. Any exception from logging or finishing prints one warning and turns tracking
  off for the rest of the run; the run JSON is written either way.
- ``wandb="auto"`` (the default) is online only when ``WANDB_API_KEY`` is set, so W&B never prompts for a
  login; online without any key is refused before anything is written (:mod:`benchmark.train.options`).
"""
from __future__ import annotations

import contextlib
import functools
import math
import os
import secrets
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from numbers import Number
from pathlib import Path
from typing import Any

from lightning_fabric.utilities.rank_zero import rank_zero_only
from pytorch_lightning.loggers import WandbLogger
from pytorch_lightning.loggers.logger import rank_zero_experiment

from models import get_variant

SECRET_ENV = ("WANDB_API_KEY",)
INIT_TIMEOUT_S = 15.0          # online init: give up and go offline after this many seconds
OFFLINE_INIT_TIMEOUT_S = 60.0   # offline init only starts a local process; a hang past this turns tracking off
MAX_ID_LEN = 64                # W&B run ids longer than this are rejected by the server


def wandb_mode(requested: str = "auto") -> str:
    """``online`` / ``offline`` / ``disabled``: ``WANDB_MODE`` wins, then ``requested``; ``auto`` is online only
    when ``WANDB_API_KEY`` is set."""
    env = os.environ.get("WANDB_MODE", "").lower()
    if env in ("disabled", "offline", "online"):
        return env
    if env == "dryrun":
        return "offline"
    if requested != "auto":
        return requested
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def wandb_key_available() -> bool:
    """An API key in ``WANDB_API_KEY`` or a ``wandb login`` entry in ``~/.netrc`` (what online mode needs)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        import netrc

        path = os.environ.get("NETRC") or str(Path.home() / ".netrc")
        auth = netrc.netrc(path).authenticators(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")
                                                .split("://")[-1].split("/")[0])
        return bool(auth and auth[2])
    except Exception:
        return False


def init_timeout() -> float:
    """Seconds an online ``wandb.init`` may take: ``WANDB_INIT_TIMEOUT`` if it is a positive number, else
    :data:`INIT_TIMEOUT_S`."""
    try:
        value = float(os.environ.get("WANDB_INIT_TIMEOUT", ""))
    except ValueError:
        return INIT_TIMEOUT_S
    return value if math.isfinite(value) and value > 0 else INIT_TIMEOUT_S


def wandb_id(run_id: str) -> str:
    """A W&B id unique per attempt: ``<run id>-<UTC yymmddHHMMSS><6 hex digits>`` (at most 64 characters)."""
    suffix = time.strftime("%y%m%d%H%M%S", time.gmtime()) + secrets.token_hex(3)
    return f"{run_id[:MAX_ID_LEN - len(suffix) - 1]}-{suffix}"


def nested_config(run_id: str, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """A run's flat configuration (:meth:`benchmark.train.options.ResolvedRun.config`) as
    ``{"run": ..., "model": ..., "data": ...}``: ``data.*`` keys go to ``data`` (with the dataset's ``name``), the fields of the variant's ``Config`` to
    ``model``, the rest (and ``run_id``) to ``run``."""
    try:
        model_keys = {f.name for f in fields(get_variant(config["variant"]).Config)}
    except Exception:                        # an unknown variant: nothing is model-specific
        model_keys = set()
    run: dict[str, Any] = {"run_id": run_id}
    model: dict[str, Any] = {}
    data: dict[str, Any] = {"name": config.get("data")}
    for k, v in config.items():
        if k.startswith("data."):
            data[k[len("data."):]] = v
        elif k in model_keys:
            model[k] = v
        else:
            run[k] = v
    return {"run": run, "model": model, "data": data}


def finite_split(metrics: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """``(metrics without non-finite numbers, the keys left out)``; non-numbers (images, tables) are kept."""
    kept, dropped = {}, []
    for k, v in metrics.items():
        if v is None:
            continue
        try:
            bad = isinstance(v, Number) or getattr(v, "ndim", None) == 0
            bad = bad and not math.isfinite(float(v))
        except (TypeError, ValueError):
            bad = False
        if bad:
            dropped.append(k)
        else:
            kept[k] = v
    return kept, dropped


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


def call_within(fn: Callable[[], Any], timeout: float, on_late: Callable[[Any], None]) -> Any:
    """``fn()`` in a daemon thread; ``TimeoutError`` when it has not returned after ``timeout`` seconds (a result
    that arrives later is handed to ``on_late``, e.g. to finish an abandoned run)."""
    box: dict[str, Any] = {}
    lock = threading.Lock()

    def target() -> None:
        try:
            result = fn()
        except BaseException as e:      # re-raised in the caller
            box["error"] = e
            return
        with lock:
            if box.get("abandoned"):
                with contextlib.suppress(Exception):
                    on_late(result)
            else:
                box["result"] = result

    thread = threading.Thread(target=target, name="wandb-init", daemon=True)
    thread.start()
    thread.join(timeout)
    with lock:
        if "result" not in box and "error" not in box:
            box["abandoned"] = True
            raise TimeoutError(f"no answer after {timeout:g} s")
    if "error" in box:
        raise box["error"]
    return box["result"]


def start_run(init: dict[str, Any], mode: str, timeout: float | None = None) -> Any | None:
    """``wandb.init(**init, mode=mode)`` that cannot stall or fail a run: online gives up after ``timeout``
    seconds (:func:`init_timeout`) and retries offline with one warning line; ``None`` (tracking off, one
    warning) if offline fails too."""
    import wandb

    timeout = init_timeout() if timeout is None else timeout
    settings = wandb.Settings(console="off", silent=True, x_disable_stats=True, init_timeout=timeout)

    def attempt(m: str) -> Any:
        return wandb.init(**init, mode=m, settings=settings, reinit="create_new")

    def finish_late(run: Any) -> None:
        run.finish(exit_code=1)

    online_wait = timeout + min(timeout, 5.0)   # W&B's own timeout first; ours if wandb.init itself hangs
    local_wait = max(timeout, OFFLINE_INIT_TIMEOUT_S)
    if mode == "online":
        try:
            return call_within(lambda: attempt("online"), online_wait, finish_late)
        except Exception as e:
            _warn(f"W&B online init failed ({_reason(e)}); logging offline to {init.get('dir') or '.'}/wandb "
                  f"instead (upload later with `wandb sync`)")
            mode = "offline"
            # the abandoned online attempt keeps its id registered in W&B's service process: take a new one
            init = {**init, "id": wandb_id(init.get("name") or "run")}
    try:
        return call_within(lambda: attempt(mode), local_wait, finish_late)
    except Exception as e:
        _warn(f"W&B {mode} init failed ({_reason(e)}); training without tracking")
        return None


def _reason(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def _guarded(what: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A :class:`SafeWandbLogger` method that does nothing once tracking is off, and turns tracking off (one
    warning naming ``what``) when W&B fails inside it."""
    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def guarded(self: "SafeWandbLogger", *args: Any, **kwargs: Any) -> None:
            if self.disabled:
                return
            try:
                method(self, *args, **kwargs)
            except Exception as e:
                self._fail(what, e)
        return guarded
    return wrap


class SafeWandbLogger(WandbLogger):
    """A ``WandbLogger`` whose W&B calls cannot stop training (see the module docstring): the first failure
    prints one warning and turns tracking off. Logs ``iteration`` instead of ``trainer/global_step``, never
    logs inf/NaN, and nests the module's hyper-parameters under ``model``."""

    def __init__(self, init: dict[str, Any], mode: str) -> None:
        super().__init__(name=init.get("name"), save_dir=init.get("dir") or ".", id=init.get("id"),
                         project=init.get("project"))
        self._init, self._mode = init, mode
        self.disabled = False
        self._nonfinite: set[str] = set()

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._experiment is None:
            run = start_run(self._init, self._mode) if not self.disabled else None
            if run is None:
                import wandb

                self.disabled = True
                run = wandb.init(mode="disabled", reinit="create_new")   # a no-op run
            else:
                try:
                    run.define_metric("iteration")
                    run.define_metric("*", step_metric="iteration")
                except Exception as e:
                    self._fail("define_metric", e)
            self._experiment = run
        return self._experiment

    @property
    def offline(self) -> bool:
        """Whether the run logs to local files only (``wandb sync`` uploads it)."""
        return bool(getattr(self.experiment, "offline", False))

    def _fail(self, what: str, e: BaseException) -> None:
        if not self.disabled:
            self.disabled = True
            _warn(f"W&B {what} failed ({_reason(e)}); tracking is off for the rest of this run, training "
                  f"goes on")

    @rank_zero_only
    @_guarded("log")
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        kept, dropped = finite_split(metrics)
        if step is not None:
            kept["iteration"] = int(step)
        if kept:
            self.experiment.log(kept)
        new = [k for k in dropped if k not in self._nonfinite]
        for k in new:
            self.experiment.summary[f"nonfinite/{k}"] = int(step) if step is not None else None
        self._nonfinite.update(new)

    @rank_zero_only
    @_guarded("image log")
    def log_image(self, key: str, images: list[Any], step: int | None = None, **kwargs: Any) -> None:
        super().log_image(key, images, step=step, **kwargs)

    @rank_zero_only
    @_guarded("config update")
    def log_hyperparams(self, params: Any) -> None:
        """The module's hyper-parameters (its ``Config`` and data shape) go into the ``model`` section."""
        params = dict(vars(params) if hasattr(params, "__dict__") and not isinstance(params, dict) else params)
        config = self.experiment.config
        model = dict(config.get("model") or {})
        model.update({k: list(v) if isinstance(v, tuple) else v for k, v in params.items()})
        config.update({"model": model}, allow_val_change=True)

    @rank_zero_only
    @_guarded("finalize")
    def finalize(self, status: str) -> None:
        super().finalize(status)

    @_guarded("summary")
    def log_summary(self, values: Mapping[str, Any], prefix: str = "") -> None:
        """Summary entries; a non-finite number becomes ``None`` and ``nonfinite/<prefix><key>`` says what it
        was."""
        summary = self.experiment.summary
        kept, dropped = finite_split(values)
        for k, v in kept.items():
            summary[f"{prefix}{k}"] = v
        for k in dropped:
            summary[f"{prefix}{k}"] = None
            summary[f"nonfinite/{prefix}{k}"] = str(float(values[k]))

    def finish(self) -> None:
        """Finish the W&B run (writes/uploads it); a failure is one warning, never an exception."""
        run = self._experiment
        if run is None:
            return
        try:
            run.finish(exit_code=1 if self.disabled else 0)
        except Exception as e:
            self._fail("finish", e)


def _usable_dir(path: str | os.PathLike) -> str | None:
    """Why ``path`` cannot hold W&B's files (created if absent), or ``None`` when it can."""
    try:
        p = Path(path).expanduser()
        p.mkdir(parents=True, exist_ok=True)
        if not os.access(p, os.W_OK | os.X_OK):
            return "not writable"
        return None
    except OSError as e:
        return e.strerror or type(e).__name__


def tracking_dir(save_dir: str | os.PathLike, fallback_dir: str | os.PathLike | None = None) -> str | None:
    """The folder W&B writes under: ``save_dir`` (``$WANDB_DIR``, else ``.``) when it can be created and written;
    else ``fallback_dir`` (the results directory), else a folder in the system's temporary directory, with one
    warning saying which and why (W&B itself would silently switch an unwritable one to ``/tmp/wandb``, or fail
    the run on one it cannot create); ``None`` with one warning (tracking off, training goes on) when none is
    usable. Tracking never stops training."""
    why = _usable_dir(save_dir)
    if why is None:
        return str(save_dir)
    named = (f"WANDB_DIR={str(save_dir)!r}" if os.environ.get("WANDB_DIR") == str(save_dir)
             else f"W&B folder {str(save_dir)!r}")
    user = os.getuid() if hasattr(os, "getuid") else 0
    for other in (fallback_dir, Path(tempfile.gettempdir()) / f"ganbench-wandb-{user}"):
        if other is not None and _usable_dir(other) is None:
            _warn(f"{named} is unusable ({why}); W&B logs to {Path(other) / 'wandb'} instead (set WANDB_DIR to a "
                  "writable folder to choose)")
            return str(other)
    _warn(f"{named} is unusable ({why}) and no other folder is writable; training without tracking")
    return None


def make_logger(run_id: str, config: dict, *, requested: str = "auto", project: str = "ganbench", group: str = "",
                tags: list[str] | None = None, save_dir: str | os.PathLike = ".",
                fallback_dir: str | os.PathLike | None = None) -> SafeWandbLogger | None:
    """A :class:`SafeWandbLogger` for one run (its W&B run started now on rank 0), or ``None`` when W&B is
    disabled or no folder for its files is usable (:func:`tracking_dir`). ``config`` is the run's flat
    configuration; W&B gets it nested (:func:`nested_config`)."""
    mode = wandb_mode(requested)
    if mode == "disabled":
        return None
    os.environ.setdefault("WANDB_SILENT", "true")
    os.environ.setdefault("WANDB_DISABLE_GIT", "true")
    save_dir = tracking_dir(save_dir, fallback_dir)
    if save_dir is None:
        return None
    init = {"project": project, "name": run_id, "id": wandb_id(run_id), "group": group or None,
            "job_type": "train", "tags": tags, "dir": str(save_dir), "config": nested_config(run_id, config)}
    logger = SafeWandbLogger(init, mode)
    if getattr(rank_zero_only, "rank", 0) == 0:
        _ = logger.experiment              # start now: a failing online init falls back before training
    return logger


def log_final(logger: SafeWandbLogger | None, metrics: dict[str, Any], sample_png: str | None, status: str) -> None:
    """Final metrics into the run summary (``final/<metric>``) and the sample plot as an image (PNG: no
    float->uint8 truncation)."""
    if logger is None or logger.disabled:
        return
    logger.log_summary(metrics, prefix="final/")
    logger.log_summary({"status": status})
    if sample_png:
        try:
            import wandb

            logger.experiment.log({"samples": wandb.Image(sample_png)})
        except Exception as e:
            logger._fail("image log", e)


def finish(logger: SafeWandbLogger | None) -> None:
    if logger is not None:
        logger.finish()
