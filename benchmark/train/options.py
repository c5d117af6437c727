"""One flat option namespace for a run, checked against three typed schemas.

A run's options are the union of :class:`RunOptions` (how to run: devices, results directory, logging), the
variant's ``Config`` dataclass (the objective and networks) and the datamodule's constructor signature (the
data). Names never collide; unknown names are rejected with the list of valid ones. Values given as strings
(command line, sweep grids) are converted with the field's type hint.
"""
from __future__ import annotations

import dataclasses
import inspect
import math
import os
import re
import typing
from dataclasses import dataclass, field
from typing import Any, Iterable, Literal, Union

from models import ConfigError, fusion, get_variant
from models.config import field_types, validate
from models.networks import default_dcgan_fc
from datamodules import get_datamodule

from ..score import METRIC_GROUPS, check_supported
from ..names import unknown_option_message


@dataclass
class RunOptions:
    variant: str = "nsgan"
    data: str = "ring8"
    seed: int = 0
    results_dir: str = "results"
    metrics: str = ""                 # comma-separated metric names; empty = the dataset's defaults
    accelerator: str = "auto"         # passed to the Trainer (cpu, gpu, auto, ...)
    devices: str = "1"                # Trainer devices: a count, a list like "0,1", or "auto"
    num_nodes: int = 1
    strategy: str = "auto"            # auto, ddp (find_unused_parameters=True), ddp_spawn, ...
    precision: str = "32-true"        # 32-true, bf16-mixed, 16-mixed
    deterministic: bool = False       # torch deterministic algorithms (bit-exact CPU resumes)
    threads: int = 0                  # torch intra-op threads (0 = auto: 1 for an MLP on the CPU, as sweeps
                                      # run them, up to 8x faster on a busy machine; torch's default otherwise)
    wandb: Literal["auto", "online", "offline", "disabled"] = "auto"   # auto: online iff WANDB_API_KEY is set
    project: str = "ganbench"         # W&B project
    group: str = ""                   # W&B group (a sweep's name)
    save_samples: int = 512           # generated samples kept with the run for plots
    sample_every: int = 500           # GAN iterations between sample plots sent to W&B during training (0 = off)
    eval_every: int = 0               # GAN iterations between in-training scores of a small sample (0 = off):
                                      # the run's cheap metrics only (benchmark/metric_callback.py), into
                                      # history as eval/<metric>; the final scores keep the full protocol
    eval_samples: int = 500           # generated samples per in-training score
    checkpoint_every: int = 0         # iterations between checkpoints, and one at the end (0 = none)
    resume: bool = True               # continue from the run's last checkpoint when one exists
    compile: bool = False             # torch.compile G and D (falls back to eager, with a note, if it fails)
    channels_last: bool = False       # channels-last memory format for image models (a GPU fast path)
    name: str = ""                    # checkpoint key (default: the run id); under one name changed
                                      # hyper-parameters are refused instead of starting a new run
    fuse_iterations: int = 0          # GAN iterations per Lightning training_step (0 = auto, see
                                      # ResolvedRun.fused_iterations): same batches and maths, less dispatch
    progress: Literal["auto", "on", "off"] = "auto"   # live progress line; auto: on a TTY unless $CI is set
    engine: Literal["single", "population"] = "single"   # population: trained as a member of a vectorised
                                      # population (models/population.py; sweeps' --population); part of the
                                      # run's identity, so population and single results are never mixed


# options that say *how* a run executes, not *what* it computes: they do not enter the run's identity
EXECUTION_OPTIONS = {"results_dir", "accelerator", "devices", "num_nodes", "strategy", "threads", "wandb",
                     "project", "group", "resume", "checkpoint_every", "name", "sample_every", "compile",
                     "channels_last", "eval_every", "eval_samples", "fuse_iterations", "progress"}
# model options added after runs were recorded (issue 28), left out of a run's identity while off so every earlier
# run keeps its id (and its results); when set they enter it like any other option. dcgan_fc is resolved before
# (28 px: 1024, the published MNIST net), so a 28 px run names it and is never taken for one of the earlier
# default's (no FC layer), which keeps its id: set dcgan_fc=0 to train (or find) that narrower network
OFF_UNLESS_SET = {"r1_gamma": 0.0, "r2_gamma": 0.0, "g_ema": 0.0, "diffaugment": "", "dcgan_fc": 0,
                  "g_hidden": None, "g_depth": None, "g_norm": "none", "d_maxout": 0, "mlp_init_std": 0.0}
# datamodule options that say where/how data is read, not which data: the same run on another machine
# (another data root, a cache or not) keeps its identity
DATA_EXECUTION_OPTIONS = {"root", "download", "cache", "num_threads", "on_device"}


def data_schema(dm_cls: type) -> dict[str, tuple[Any, Any]]:
    """``{name: (type, default)}`` from a datamodule's constructor (``seed`` comes from the run)."""
    sig = inspect.signature(dm_cls.__init__)
    hints = typing.get_type_hints(dm_cls.__init__)
    return {n: (hints.get(n, str), p.default) for n, p in sig.parameters.items()
            if n not in ("self", "seed") and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _shown(value: Any, width: int = 60) -> str:
    """A bounded repr of a user's value for an error message (never the whole of a huge structure)."""
    import reprlib

    r = reprlib.Repr()
    r.maxstring, r.maxother, r.maxlist, r.maxdict, r.maxlevel = width, width, 4, 4, 2
    return r.repr(value)


def coerce(value: Any, tp: Any, name: str) -> Any:
    """Convert ``value`` (often a string) to type hint ``tp``; :class:`ConfigError` names the option.

    Every option is a scalar: a list, mapping or other structure (``lr_g: [1e-4]`` in a config file, a grid
    entry of lists) is refused here, never turned into text or passed on.
    """
    if not isinstance(value, (str, int, float, bool, type(None))):
        raise ConfigError(f"{name}={_shown(value)} is a {type(value).__name__}; give a single value "
                          "(a number or text)")
    origin = typing.get_origin(tp)
    if origin is Union:                                    # Optional[X]
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            return None
        return coerce(value, args[0], name)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value not in choices:
            raise ConfigError(f"{name}={_shown(value)} is not valid; choose one of: {', '.join(map(str, choices))}")
        return value
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            s = str(value).lower()
            if s in ("1", "true", "yes", "on"):
                return True
            if s in ("0", "false", "no", "off"):
                return False
            raise ValueError
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            if not isinstance(value, str):
                return int(value)
            try:
                return int(value, 10)
            except ValueError:                             # "1e3", "2000.0": an integral float is that int
                f = float(value)
                if not (math.isfinite(f) and f.is_integer()):
                    raise
                return int(f)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            out = float(value)
            if not math.isfinite(out):
                raise ConfigError(f"{name}={_shown(value)} is not a finite number; give a finite value")
            return out
        if tp is str:
            return str(value)
    except ConfigError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise ConfigError(f"{name}={_shown(value)} is not a valid {getattr(tp, '__name__', tp)}") from None
    return value


MAX_SAMPLES = 1_000_000        # save_samples / eval_samples: beyond this a run would fail after training ...
MAX_SAMPLE_BYTES = 1 << 30     # ... or hold more than 1 GiB of float32 samples


def auto_threads(run: "RunOptions", arch: str) -> int:
    """The intra-op thread count ``threads=0`` stands for: 1 for the tiny MLP models on the CPU (their ops are too
    small to split; extra threads only spin, and on a loaded machine a 60-iteration wgan_gp run took 373 s with
    torch's 2 threads against 45 s with 1), else 0 (torch's default: DCGANs and GPUs)."""
    on_gpu = run.accelerator in ("gpu", "cuda", "mps", "tpu") or (run.accelerator == "auto" and _has_gpu())
    return 1 if arch == "mlp" and not on_gpu else 0


def _has_gpu() -> bool:
    import torch

    return torch.cuda.is_available()


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")       # x86 instructions that compute in bfloat16 natively


def cpu_flags(path: str = "/proc/cpuinfo") -> set[str] | None:
    """The CPU's feature flags (Linux ``/proc/cpuinfo``), or ``None`` where they cannot be read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        return None
    return None


def bf16_cpu_warning(run: "RunOptions", flags: set[str] | None = None) -> str | None:
    """One warning line when a bf16 precision will run on a CPU without native bf16 (no AVX512-BF16/AMX): torch
    then emulates it, measured 25x slower than fp32 on DCGAN-32 on such a CPU; ``None`` otherwise or unknown."""
    if not str(run.precision).startswith("bf16"):
        return None
    if run.accelerator not in ("cpu", "auto") or (run.accelerator == "auto" and _has_gpu()):
        return None
    flags = cpu_flags() if flags is None else flags
    if flags is None or any(f in flags for f in BF16_CPU_FLAGS):
        return None
    return (f"warning: --precision {run.precision} on a CPU without native bf16 (no {' or '.join(BF16_CPU_FLAGS)} "
            "in /proc/cpuinfo): torch emulates it, which can be many times slower than fp32 (0.04x measured on "
            "DCGAN-32); use 32-true here, bf16 on GPUs or CPUs with AVX512-BF16/AMX")


@dataclass
class ResolvedRun:
    """A run's options split by owner, converted and validated."""

    run: RunOptions
    model: dict[str, Any]
    data: dict[str, Any]
    variant_cls: type = field(repr=False, default=None)
    datamodule_cls: type = field(repr=False, default=None)

    def config(self) -> dict[str, Any]:
        """Every hyper-parameter that defines the run (the model config with all defaults filled in)."""
        model_cfg = {k: v for k, v in dataclasses.asdict(self.variant_cls.Config(**self.model)).items()
                     if not (k in OFF_UNLESS_SET and v == OFF_UNLESS_SET[k])}
        run = {k: v for k, v in dataclasses.asdict(self.run).items() if k not in EXECUTION_OPTIONS}
        if run.get("engine") == "single":          # the default keeps the ids of every run made before engines
            del run["engine"]
        data = {f"data.{k}": v for k, v in self.data.items() if k not in DATA_EXECUTION_OPTIONS}
        return {**run, **model_cfg, **data}

    def flat_options(self) -> dict[str, Any]:
        """Every option of the run, flat as ``--name value`` and ``--config`` take them (``run --print-config``):
        ``resolve(flat_options())`` gives back this run."""
        model_cfg = dataclasses.asdict(self.variant_cls.Config(**self.model))
        return {**dataclasses.asdict(self.run), **model_cfg, **self.data}

    def fused_iterations(self, periods: Iterable[int] = ()) -> int:
        """GAN iterations trained per Lightning ``training_step`` (:func:`models.fusion.fused_iterations`) for this
        run's ``fuse_iterations``, its callback periods (``eval_every``, ``sample_every``, ``checkpoint_every``) and
        ``periods``, the periods of other callbacks (their ``every_n_iterations``), which must fire on the same
        iterations.

        Raises:
            ConfigError: an explicit ``fuse_iterations > 1`` with the stop criteria, or one that does not
                divide a callback period.
        """
        cfg = self.variant_cls.Config(**self.model)
        r = self.run
        sample_every = 0 if r.wandb == "disabled" else r.sample_every      # no logger, no sample plots
        stop = cfg.stop_d_above is not None or cfg.stop_g_below is not None
        batch_bytes = 4 * self.data.get("batch_size", 1) * math.prod(self.datamodule_cls.dims)
        return fusion.fused_iterations(r.fuse_iterations, (r.eval_every, sample_every, r.checkpoint_every, *periods),
                                       stop, fusion.batches_per_iteration(self.variant_cls, cfg.n_critic),
                                       batch_bytes)


ACCELERATORS = ("auto", "cpu", "gpu", "cuda", "mps", "tpu")
PRECISIONS = ("32-true", "32", "16-mixed", "16", "16-true", "bf16-mixed", "bf16", "bf16-true", "64-true", "64",
              "transformer-engine", "transformer-engine-float16")


def strategy_choices() -> list[str]:
    """``auto`` and every strategy name Lightning's registry knows (``ddp``, ``ddp_spawn``, ``fsdp``, ...)."""
    try:
        from pytorch_lightning.strategies import StrategyRegistry

        names = list(StrategyRegistry.available_strategies())
    except Exception:                                  # pragma: no cover - an older Lightning
        names = ["ddp", "ddp_spawn", "ddp_find_unused_parameters_true", "fsdp", "deepspeed"]
    return ["auto", *names]


def available_devices(accelerator: str) -> tuple[str, int]:
    """(what the devices are, how many this machine has) for an accelerator (``auto``: GPUs if any, else CPUs)."""
    import torch

    if accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available()):
        return "CUDA GPU(s)", torch.cuda.device_count()
    if accelerator == "mps":
        return "MPS device(s)", int(getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available())
    if accelerator == "tpu":
        import importlib.util

        return "TPU core(s)", 8 if importlib.util.find_spec("torch_xla") else 0
    return "CPU core(s)", os.cpu_count() or 1


def check_execution(run: RunOptions) -> None:
    """Reject execution options the Trainer, the seeding or W&B would fail on after set-up (``ConfigError``).

    Checked here, before anything is written, so a typo never reaches :func:`benchmark.train.run.execute` (where
    a failure is recorded) and never replaces a completed run's record.
    """
    if not 0 <= run.seed < 2 ** 32:
        raise ConfigError(f"seed={run.seed} is out of range; choose 0 <= seed < 2**32")
    if run.strategy not in (choices := strategy_choices()):
        raise ConfigError(f"strategy={run.strategy!r} is not valid; choose one of: {', '.join(choices)}")
    if str(run.precision) not in PRECISIONS:
        raise ConfigError(f"precision={run.precision!r} is not valid; choose one of: {', '.join(PRECISIONS)}")
    if run.accelerator not in ACCELERATORS:
        raise ConfigError(f"accelerator={run.accelerator!r} is not valid; choose one of: {', '.join(ACCELERATORS)}")
    d = str(run.devices).strip()
    what, have = available_devices(run.accelerator)
    if run.accelerator != "auto" and run.accelerator != "cpu" and have == 0:
        raise ConfigError(f"accelerator={run.accelerator!r}: this machine has no {what}; use --accelerator cpu "
                          "or auto")
    if d != "auto":
        if re.fullmatch(r"\d+", d):
            n = int(d)
            if n < 1:
                raise ConfigError(f"devices={d!r} must be a positive count, a list like 0,1 or auto")
        elif re.fullmatch(r"\[?\s*\d+(\s*,\s*\d+)*\s*,?\s*\]?", d):
            ids = [int(x) for x in d.strip("[]").split(",") if x.strip()]
            if len(set(ids)) != len(ids):
                raise ConfigError(f"devices={d!r} lists a device twice; list each device once")
            n = len(ids)
            if run.accelerator != "cpu" and have and max(ids) >= have:
                raise ConfigError(f"devices={d!r} names device {max(ids)}, but this machine has {have} {what} "
                                  f"(0..{have - 1}); choose from those")
        else:
            raise ConfigError(f"devices={d!r} is not valid; give a positive count, a list like 0,1 or auto")
        if n > have:
            raise ConfigError(f"devices={d!r} asks for {n} {what}, but this machine has {have}; "
                              f"use --devices {have} (or fewer) or auto")
    from .tracking import wandb_mode, wandb_key_available

    if wandb_mode(run.wandb) == "online" and not wandb_key_available():
        raise ConfigError("W&B is online (WANDB_MODE or --wandb) but no API key is set: export WANDB_API_KEY, "
                          "run `wandb login`, or use --wandb offline")


def resolve(options: dict[str, Any], *, datamodule_cls: type | None = None) -> ResolvedRun:
    """Split, convert and validate a flat option dict (keys may use ``-`` or ``_``).

    ``datamodule_cls`` resolves the options against that datamodule class instead of the registered dataset
    ``options['data']`` names (a dataset that is not registered, e.g. the performance harness's synthetic one).
    """
    bad = next((k for k in options if not isinstance(k, str)), "")
    if bad != "":
        raise ConfigError(f"option name {_shown(bad)} is a {type(bad).__name__}, not a name; write option names "
                          "as text")
    options = {k.replace("-", "_"): v for k, v in options.items()}
    run_types = field_types(RunOptions)
    variant_name = coerce(options.get("variant", RunOptions.variant), str, "variant")
    data_name = coerce(options.get("data", RunOptions.data), str, "data")
    try:
        variant_cls = get_variant(variant_name)
        dm_cls = datamodule_cls or get_datamodule(data_name)
    except KeyError as e:
        raise ConfigError(e.args[0]) from None
    model_types = field_types(variant_cls.Config)
    d_schema = data_schema(dm_cls)
    run_kw, model_kw, data_kw = {}, {}, {}
    for key, value in options.items():
        if key in run_types:
            run_kw[key] = coerce(value, run_types[key], key)
        elif key in model_types:
            model_kw[key] = coerce(value, model_types[key], key)
        elif key in d_schema:
            data_kw[key] = coerce(value, d_schema[key][0], key)
        else:
            raise ConfigError(unknown_option_message(key, set(run_types) | set(model_types) | set(d_schema),
                                                     variant_name, data_name))
    run = RunOptions(**run_kw)
    validate(run)
    check_execution(run)
    if min(run.save_samples, run.checkpoint_every, run.threads, run.sample_every, run.eval_every,
           run.fuse_iterations) < 0 or run.num_nodes < 1 or run.eval_samples < 2:
        raise ConfigError("save_samples, checkpoint_every, threads, sample_every, eval_every and fuse_iterations "
                          "must be >= 0, num_nodes >= 1 and eval_samples >= 2")
    for key in ("save_samples", "eval_samples"):
        n = getattr(run, key)
        size = n * 4 * math.prod(dm_cls.dims)
        if n > MAX_SAMPLES or size > MAX_SAMPLE_BYTES:
            raise ConfigError(f"{key}={n} is too many: {n:,} samples of {dm_cls.name} take {size / 2**30:.3g} GiB "
                              f"(limit {MAX_SAMPLES:,} samples and {MAX_SAMPLE_BYTES // 2**30} GiB); give a smaller "
                              f"--{key.replace('_', '-')}")
    if run.name and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}", run.name):
        raise ConfigError(f"name={run.name!r} is not valid; use 1-100 letters, digits, '.', '_' or '-'")
    for k, v in data_kw.items():
        if k in ("batch_size", "num_samples") and v < 1:
            raise ConfigError(f"{k}={v} must be >= 1")
    model_cfg = variant_cls.Config(**model_kw)
    validate(model_cfg)
    variant_cls.check_data(model_cfg, tuple(dm_cls.dims), dm_cls.num_classes)
    if model_cfg.dcgan_fc is None:              # resolved here so the run's identity names the network it trains
        model_kw["dcgan_fc"] = default_dcgan_fc(model_cfg.arch, tuple(dm_cls.dims))
    metric_names = [m for m in run.metrics.split(",") if m] if run.metrics else list(dm_cls.metrics)
    unknown = [m for m in metric_names if m not in METRIC_GROUPS]
    if unknown and run.metrics:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; choose from: {', '.join(sorted(METRIC_GROUPS))}")
    try:                                        # fid on ring8, modes_covered on digits: refused before training
        check_supported([m for m in metric_names if m in METRIC_GROUPS], dm_cls)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    data_kw = {n: data_kw.get(n, default) for n, (_, default) in d_schema.items()}
    resolved = ResolvedRun(run, model_kw, data_kw, variant_cls, dm_cls)
    resolved.fused_iterations()                 # an explicit fuse_iterations that cannot work: ConfigError now
    return resolved


def option_table(variant: str, data: str) -> list[tuple[str, str, Any]]:
    """(owner, name, default) for every option a run of ``variant`` on ``data`` accepts."""
    rows = [("run", f.name, f.default) for f in dataclasses.fields(RunOptions)]
    rows += [(variant, f.name, f.default) for f in dataclasses.fields(get_variant(variant).Config)]
    rows += [(data, n, d) for n, (_, d) in data_schema(get_datamodule(data)).items()]
    return rows


def reproduce_command(config: dict[str, Any]) -> str:
    """The ``python -m benchmark run ...`` command that trains the run whose identity is ``config`` (a run
    record's ``config``): its variant, data and seed, then every option whose value differs from the default
    (recipe values included), so the command gives back the same run id and scores."""
    import shlex

    default = resolve({"variant": config["variant"], "data": config["data"]}).config()
    parts = ["python -m benchmark run", f"--variant {config['variant']}", f"--data {config['data']}",
             f"--seed {config.get('seed', 0)}"]
    for key, value in config.items():
        if key in ("variant", "data", "seed") or (key in default and default[key] == value):
            continue
        name = key.split(".", 1)[1] if key.startswith("data.") else key
        parts.append(f"--{name.replace('_', '-')} {shlex.quote(str(value))}")
    return " ".join(parts)


__all__ = ["RunOptions", "ResolvedRun", "resolve", "coerce", "option_table", "EXECUTION_OPTIONS",
           "reproduce_command"]
