"""``python -m benchmark sweep``: what the command does once its arguments are parsed (``benchmark/cli.py`` only
parses them): export W&B sweep configurations, print the planned runs, run one run of the sweep (``--index``,
what a W&B agent calls) under the run's lock, or run the whole sweep.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from models import ConfigError

from ..errors import UsageError
from ..io import atomic_write_text, check_writable, launcher_rank
from . import sweep as S
from .interrupt import STATE, interrupted_exit


def export_wandb(spec: S.SweepSpec, sweep_file: str | None, export_to: str, n_runs: int, *, quick: bool,
                 index_grid: bool) -> int:
    """Write the sweep as W&B sweep configurations: one random sweep per (variant, dataset) for a searched sweep
    (unless ``index_grid``), else one grid over ``--index``."""
    import yaml

    path = str(Path(sweep_file).resolve()) if sweep_file else str(S.DEFAULT_SWEEP)
    out = Path(export_to)
    by_cell = bool(spec.get("search")) and not index_grid
    if by_cell and (out.exists() and (not out.is_dir() or any(out.iterdir()))):
        raise UsageError(f"--export-wandb {export_to!r} exists and is not an empty directory; this "
                         "sweep (with search:) writes one file per cell into a new directory: give a new path")
    if not by_cell and (out.exists() or out.is_symlink()):
        raise UsageError(f"--export-wandb {export_to!r} exists"
                         + (" (a directory)" if out.is_dir() else "")
                         + "; give the path of a new file (an existing file is never overwritten)")
    if by_cell:                                          # W&B draws the trials: one random sweep per cell
        from .search import parse_search

        out.mkdir(parents=True, exist_ok=True)
        full = S.with_all_expanded(spec)
        configs = S.wandb_search_configs(full, parse_search(full["search"], list(full["variants"])))
        for cfg in configs:
            S.check_wandb_sweep_config(cfg)
            atomic_write_text(out / f"{cfg['name']}.yaml", yaml.safe_dump(cfg, sort_keys=False))
        print(f"wrote {len(configs)} W&B sweep configurations (method: random) under {out}/: "
              f"`wandb sweep {out}/<name>.yaml`, then `wandb agent <sweep-id>` on every machine; "
              f"`python -m benchmark tune` reads their runs (group {spec.get('name')!r})")
        return 0
    cfg = S.wandb_sweep_config(spec, path, n_runs, quick=quick)
    S.check_wandb_sweep_config(cfg)
    atomic_write_text(export_to, yaml.safe_dump(cfg, sort_keys=False))
    print(f"wrote W&B sweep configuration {export_to}: `wandb sweep {export_to}`, then "
          f"`wandb agent <sweep-id>` on every machine")
    return 0


def run_index(planned: list[S.PlannedRun], index: int) -> int:
    """Run one run of the sweep (skipped when done or held by another process); the exit status."""
    if not 0 <= index < len(planned):
        raise UsageError(f"--index {index} is out of range: this sweep has runs 0..{len(planned) - 1}")
    from .run import execute

    run = planned[index]
    if S.is_done(run.path):
        print(f"{run.run_id}: done already (skipped)")
        return 0
    rec = S.run_locked(run) if launcher_rank() == 0 else execute(run.options)
    if rec["status"] == S.SKIPPED:                 # another agent or sweep holds it, or finished it
        print(f"{run.run_id}: {rec['reason']} (skipped)")
        return 0
    if rec["status"] == "interrupted":
        return interrupted_exit(rec)
    print(f"{rec['run_id']}: {rec['status']} in {rec['wall_time_s']:.1f} s")
    return 0 if rec["status"] != "failed" else 1


def sweep_command(sweep_file: str | None, *, quick: bool = False, results_dir: str | None = None,
                  jobs: int | None = None, progress: str = "auto", export_to: str | None = None,
                  index_grid: bool = False, dry_run: bool = False, index: int | None = None,
                  population: str | None = None) -> int:
    """The ``sweep`` command (its options, parsed): validate every run first, then export, print, run one
    (``index``) or run them all; the exit status."""
    spec = S.load_sweep(sweep_file or S.DEFAULT_SWEEP)
    if population is not None:                       # --population wins over the file's `population:`
        spec = spec.replace(population=None if population in ("0", "off", "none") else population)
    try:
        planned = S.plan(spec, quick=quick, results_dir=results_dir)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if export_to:
        return export_wandb(spec, sweep_file, export_to, len(planned), quick=quick, index_grid=index_grid)
    if dry_run:
        for r in planned:
            print(json.dumps(r.options, sort_keys=True))
        rungs = S.halving_rungs(spec, planned)
        if rungs is not None:
            print(f"note: search.keep={rungs[2]}: the {len(rungs[0])} runs of the first seed run first; of the "
                  f"other {len(planned) - len(rungs[0])}, only the best {rungs[2]} trials of each (variant, dataset) "
                  "run", file=sys.stderr)
        return 0
    check_writable(results_dir or "results")
    if jobs is None:                                 # one run per GPU, else one per CPU core
        import torch

        jobs = torch.cuda.device_count() or os.cpu_count() or 1
    if jobs < 1:
        raise UsageError(f"--jobs {jobs} must be >= 1")
    if index is not None:                            # one run of the sweep (what a W&B agent calls)
        return run_index(planned, index)
    records = S.run_sweep(spec, quick=quick, results_dir=results_dir, jobs=jobs, progress=progress)
    if STATE.exit_code:
        return STATE.exit_code
    if records and all(r.get("status") == "failed" for r in records):
        print(f"sweep: every run it trained ({len(records)}) failed; their errors are in the run records under "
              f"{results_dir or 'results'}/runs/ and in `python -m benchmark report`", file=sys.stderr)
        return 1
    return 0
