"""Checkpoints that let a killed run resume exactly where it stopped.

Layout: ``<results>/checkpoints/<key>/iter-<NNNNNNNN>.ckpt``, where ``<key>`` is the run id (a hash of the full
configuration) or, when given, ``--name``. Keying by run id means re-running *the same command* finds its
checkpoints and a sweep's many configurations of one (variant, dataset, seed) never share a directory; with
``--name`` a command whose hyper-parameters changed finds the old checkpoints and is refused with the list of
differences (:class:`ResumeRefused`) instead of silently mixing two configurations.

A checkpoint is Lightning's full training state (both networks, both optimizers, schedulers, loop progress and
the loader's ``(epoch, position)``, see ``TensorBatchLoader.state_dict``), the module's own counters and history
(``GANModule.on_save_checkpoint``), and, from :class:`RunCheckpoint`, every rank's torch/numpy/python RNG states
and the run's configuration. Files are written to a temporary file, fsynced and renamed (:class:`AtomicCheckpointIO`);
the newest ``keep`` are kept so that an unreadable newest file falls back to the one before, with a warning.
Everything stored is a tensor or a plain Python value, so checkpoints load with ``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any, Iterator

import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from ..errors import UsageError
from ..io import RunLock, atomic_write
from .callbacks import PeriodicCallback
from .rng import reseed_rank, rng_state, set_rng_state

CHECKPOINT_RE = re.compile(r"^iter-(\d+)\.ckpt$")
TEMPORARY_RE = re.compile(r"^\.iter-\d+\.ckpt\.[A-Za-z0-9_]+\.tmp$")   # atomic_write's partial checkpoints


class ResumeRefused(UsageError):
    """The checkpoint directory holds a run with different hyper-parameters (exit status 2 from the CLI)."""


GENERATOR_DIR = "generators"           # <results>/generators/<run-id>.pt: the final generator of every run


def save_generator(model, path: str | os.PathLike) -> Path:
    """Keep a trained module's generator: ``{"generator": state dict (CPU), "data_shape", "num_classes",
    "data_kind", "variant", "config"}`` written atomically, plain tensors and Python values only, so it loads with
    ``torch.load(weights_only=True)`` (:func:`load_generator`). A few hundred KB for the embedded data's MLPs."""
    generator = getattr(model.generator, "_orig_mod", model.generator)      # torch.compile's wrapper
    state = {k: v.detach().cpu().clone() for k, v in generator.state_dict().items()}
    blob = {"generator": state, "data_shape": list(model.data_shape), "num_classes": int(model.num_classes),
            "data_kind": str(model.data_kind), "variant": type(model).name,
            "config": {k: v for k, v in vars(model.cfg).items() if v is None or isinstance(v, (bool, int, float, str))}}
    path = Path(path)
    atomic_write(path, lambda f: torch.save(blob, f))
    return path


def load_generator(path: str | os.PathLike) -> dict:
    """A file of :func:`save_generator`, or the generator of a Lightning checkpoint (its ``generator.*`` weights
    and hyper-parameters), in :func:`save_generator`'s layout."""
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if "generator" in blob and "data_shape" in blob:
        return blob
    hp = dict(blob.get("hyper_parameters") or {})
    state = {k[len("generator."):]: v for k, v in (blob.get("state_dict") or {}).items() if k.startswith("generator.")}
    if not state:
        raise ValueError(f"{path} holds no generator weights")
    return {"generator": state, "data_shape": hp.pop("data_shape"), "num_classes": hp.pop("num_classes", 0),
            "data_kind": hp.pop("data_kind", "image"), "variant": None, "config": hp}


def checkpoint_dir(results_dir: str | os.PathLike, key: str) -> Path:
    return Path(results_dir) / "checkpoints" / key


def checkpoint_path(directory: Path, iteration: int) -> Path:
    return directory / f"iter-{iteration:08d}.ckpt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Checkpoint files of ``directory``, newest (highest iteration) first."""
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := CHECKPOINT_RE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def remove_stale_temporaries(directory: Path, runs_directory: Path, rid: str) -> list[Path]:
    """Delete the partial checkpoint files (``.iter-*.ckpt.*.tmp``, :func:`benchmark.io.atomic_write`'s naming) a
    process killed mid-write (SIGKILL, power loss) left in ``directory``; returns them. Nothing is deleted while
    another live process holds the run's lock (``runs_directory/<rid>.lock``), which may be writing one now;
    other files are never touched."""
    if not directory.is_dir() or RunLock(runs_directory, rid).held_by_another():
        return []
    stale = [p for p in directory.iterdir() if TEMPORARY_RE.match(p.name) and p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    if stale:
        print(f"note: removed {len(stale)} partial checkpoint file(s) left in {directory} by an interrupted write "
              f"(e.g. {stale[0].name})", file=sys.stderr)
    return stale


def load_checkpoint(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def readable_checkpoints(directory: Path) -> Iterator[tuple[Path, dict]]:
    """``(path, checkpoint)`` of every checkpoint that loads, newest first; each unreadable one is reported on
    stderr and skipped."""
    paths = list_checkpoints(directory)
    for i, path in enumerate(paths):
        try:
            ckpt = load_checkpoint(path)
            if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "ganbench_run" not in ckpt:
                raise ValueError("not a GANBench checkpoint")
        except Exception as e:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            then = ("falling back to the previous one" if i + 1 < len(paths) else
                    "no other checkpoint is left: training starts over (delete the file to silence this)")
            print(f"warning: checkpoint {path} is corrupt or truncated ({type(e).__name__}: {reason[:200]}); "
                  f"{then}", file=sys.stderr)
            continue
        yield path, ckpt


def latest_readable(directory: Path) -> tuple[Path | None, dict | None]:
    """The newest checkpoint that loads; each unreadable one is reported on stderr and skipped."""
    return next(readable_checkpoints(directory), (None, None))


def state_dict_misfit(state: Any, model: torch.nn.Module) -> str | None:
    """Why the tensors ``state`` (a checkpoint's ``state_dict``) cannot be loaded into ``model`` (missing or
    unexpected keys, other shapes or a non-tensor), or ``None`` when they fit. Nothing is loaded."""
    if not isinstance(state, dict):
        return f"its state_dict is a {type(state).__name__}"
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    extra = [k for k in state if k not in own]
    shapes = [f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
              if k in state and isinstance(state[k], torch.Tensor) and tuple(state[k].shape) != tuple(v.shape)]
    other = [k for k in own if k in state and not isinstance(state[k], torch.Tensor)]
    problems = ([f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}"] if missing else []) + \
               ([f"unexpected {', '.join(extra[:3])}{' ...' if len(extra) > 3 else ''}"] if extra else []) + \
               ([f"shapes {'; '.join(shapes[:3])}{' ...' if len(shapes) > 3 else ''}"] if shapes else []) + \
               ([f"not tensors: {', '.join(other[:3])}"] if other else [])
    return "; ".join(problems) or None


def config_differences(stored: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """``["lr_g: 0.0001 -> 0.001", ...]`` for every key whose value differs."""
    out = []
    for k in sorted(set(stored) | set(new)):
        a, b = stored.get(k, "<unset>"), new.get(k, "<unset>")
        if a != b and not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and list(a) == list(b)):
            out.append(f"{k}: {a!r} -> {b!r}")
    return out


def find_resume(directory: Path, config: dict[str, Any],
                model: torch.nn.Module | None = None) -> tuple[Path | None, dict | None]:
    """The checkpoint to resume from (or ``(None, None)``); :class:`ResumeRefused` when its config differs.

    With ``model``, a checkpoint of this configuration whose tensors do not fit the model (another version of
    the networks, a damaged file that still unpickles) is passed over with a warning for the one before it;
    when none fits, :class:`ResumeRefused` names the newest and the fix, instead of a ``state_dict`` error on
    every re-run.
    """
    misfits: list[tuple[Path, str]] = []
    for path, ckpt in readable_checkpoints(directory):
        run = ckpt.get("ganbench_run")
        stored = run.get("config") if isinstance(run, dict) else None
        if not isinstance(stored, dict):
            stored = {}
        diffs = config_differences(stored, config)
        if diffs and not misfits:
            raise ResumeRefused(f"checkpoint {path} was written with other hyper-parameters ({'; '.join(diffs)}): "
                                f"rerun with the old values, another --name, or --resume false to start over")
        why = state_dict_misfit(ckpt["state_dict"], model) if model is not None and not diffs else None
        if not diffs and why is None:
            return path, ckpt
        misfits.append((path, why or f"other hyper-parameters: {'; '.join(diffs)}"))
        print(f"warning: checkpoint {path} does not fit this run's model ({misfits[-1][1][:300]}); trying the "
              f"previous one", file=sys.stderr)
    if misfits:
        newest, why = misfits[0]
        raise ResumeRefused(f"checkpoint {newest} has this run's configuration but its tensors do not fit the model "
                            f"({why[:300]}), nor does any older one in {directory}: rerun with --resume false to "
                            f"start over, or delete {directory}")
    return None, None


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file in the same directory, fsync, then ``os.replace``: a reader (or a run
    killed mid-write) sees the previous checkpoint or the new one, never a partial file."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path, storage_options: Any | None = None) -> None:
        atomic_write(path, lambda f: torch.save(checkpoint, f))

    def load_checkpoint(self, path, map_location: Any | None = None, weights_only: bool | None = None) -> dict:
        return torch.load(path, map_location=map_location or "cpu", weights_only=True)


class RunCheckpoint(PeriodicCallback):
    """Save every ``every`` GAN iterations and at the end of training (``every=0``: never); restore RNG states.

    Also gives ranks > 0 of a distributed run their own noise stream (added to every run for that reason).

    Args:
        directory: where ``iter-*.ckpt`` files go.
        config: the run's full configuration (stored, and compared on resume).
        every: iterations between checkpoints.
        keep: newest checkpoints kept (>= 2 so a corrupt newest file has a predecessor).
        seed: the run's seed (ranks > 0 are reseeded from it).
    """

    def __init__(self, directory: Path, config: dict[str, Any], every: int, keep: int = 2, seed: int = 0) -> None:
        super().__init__(every)
        self.directory, self.config, self.keep, self.seed = Path(directory), config, keep, seed
        self._restored = False
        self._loader_state: dict | None = None       # the checkpoint's loader position, applied at train start

    @property
    def state_key(self) -> str:
        return "RunCheckpoint"

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if not self._restored:
            reseed_rank(self.seed, trainer.global_rank)

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Put the loader at the checkpoint's next batch ourselves. Lightning restores a loader's state only when
        its loop progress says it restarts mid-epoch: a run resumed from an epoch's last batch then writes
        checkpoints whose epoch counters read "epoch finished", and a second resume from one of those started
        the data stream over (same iteration, other batches: metrics off by a few points)."""
        loader = _train_loader(trainer)
        if self._loader_state is not None and loader is not None:
            loader.load_state_dict(self._loader_state)
        self._loader_state = None

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        if self.due(pl_module.iteration):
            self.save(trainer, pl_module.iteration)

    def on_train_end(self, trainer, pl_module) -> None:
        if self.every and pl_module.iteration != self._last:
            self.save(trainer, pl_module.iteration)

    def save(self, trainer: pl.Trainer, iteration: int) -> None:
        self._last = iteration
        trainer.save_checkpoint(checkpoint_path(self.directory, iteration), weights_only=False)
        if trainer.is_global_zero:
            for old in list_checkpoints(self.directory)[self.keep:]:
                old.unlink(missing_ok=True)

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        states = [rng_state()]
        if trainer.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
            states = [None] * trainer.world_size
            torch.distributed.all_gather_object(states, rng_state())
        checkpoint["ganbench_run"] = {"config": self.config, "rng": states, "world_size": trainer.world_size}
        loader = _train_loader(trainer)
        if loader is not None:
            checkpoint["ganbench_run"]["loader"] = loader.state_dict()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        run = checkpoint.get("ganbench_run", {})
        states = run.get("rng") or []
        self._restored = True
        self._loader_state = run.get("loader")
        if len(states) == trainer.world_size:
            set_rng_state(states[trainer.global_rank])
        else:
            reseed_rank(self.seed, trainer.global_rank)
            print(f"warning: checkpoint was written by {len(states)} process(es), this run has "
                  f"{trainer.world_size}: RNG streams restart, the continuation is not bit-exact", file=sys.stderr)


def _train_loader(trainer: pl.Trainer):
    """The run's training loader when it is resumable (``state_dict``/``load_state_dict``), else ``None``."""
    loader = trainer.train_dataloader               # None until the fit loop has set up its data
    if isinstance(loader, (list, tuple)) and len(loader) == 1:
        loader = loader[0]
    return loader if hasattr(loader, "state_dict") and hasattr(loader, "load_state_dict") else None
