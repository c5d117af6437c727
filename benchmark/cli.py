"""``python -m benchmark <command>``: list, run, report (and the commands later modules add).

Bad input (unknown variant, dataset, metric or option; out-of-range values; malformed files; an unwritable
results directory) prints one ``error:`` line that names the bad value and the valid choices, and exits 2
without writing anything.
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .commands import DATASETS, VARIANTS, add_evaluate_parser, add_perf_parser, add_theory_parser
from .errors import EXIT_USAGE, UsageError
from .io import check_writable, load_yaml_mapping
from .suggest import check_name, check_run_names, check_sweep_names


class Parser(argparse.ArgumentParser):
    """No abbreviated flags (``report --wandb disabled`` is not ``--wandb-report``); sub-parsers inherit it."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("allow_abbrev", False)
        super().__init__(*args, **kwargs)


def parse_extra_options(tokens: list[str]) -> dict[str, str]:
    """``['--lr-g', '1e-4', '--pi=0.3']`` -> ``{'lr_g': '1e-4', 'pi': '0.3'}``."""
    out: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or len(tok) < 3:
            raise UsageError(f"unexpected argument {tok!r}: options take the form --name value")
        if "=" in tok:
            k, v = tok[2:].split("=", 1)
            i += 1
        else:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise UsageError(f"option {tok} needs a value")
            k, v = tok[2:], tokens[i + 1]
            i += 2
        out[k.replace("-", "_")] = v
    return out


# ------------------------------------------------------------------------------------------ commands
def cmd_list(args: argparse.Namespace) -> int:
    """The registries from a static catalogue (no torch import; tests/test_fast_cli.py keeps it honest)."""
    from .commands import list_text

    sys.stdout.write(list_text())
    return 0


class FullRunHelp(argparse.Action):
    """``run --help``: the parser's help, then every option of the run (its variant and dataset: ``--variant V
    --data D --help`` for another), with default, type or choices and one line each (``options`` prints the same)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest=dest, default=default, nargs=0, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            variant = check_name("variant", getattr(namespace, "variant", None) or "nsgan", VARIANTS)
            data = check_name("dataset", getattr(namespace, "data", None) or "ring8", DATASETS)
        except UsageError as e:
            parser.exit(2, f"error: {e}\n")
        from .train.option_help import format_rows, format_sweep_cell, option_rows

        parser.print_help()
        rows = option_rows(variant, data)
        print(f"\nall options of a run of {variant!r} on {data!r} (give --variant/--data before --help for "
              "another): owner, --name, default, type or choices, help")
        print(format_rows(rows), end="")
        print(format_sweep_cell(variant, data, rows))
        parser.exit(0)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("-h", "--help", action=FullRunHelp, help="show this help and every option of the run, then exit")
    p.add_argument("--print-config", action="store_true",
                   help="print every option of this run as YAML (reads back with --config) and exit")
    p.add_argument("--variant", help="registered variant (see `list`)")
    p.add_argument("--data", help="registered dataset (see `list`)")
    p.add_argument("--seed", help="random seed")
    p.add_argument("--iterations", help="budget in GAN iterations (generator steps)")
    p.add_argument("--config", help="YAML file of option overrides")
    p.add_argument("--results-dir", dest="results_dir", help="where runs/ and samples/ go (default results)")
    p.add_argument("--progress", choices=("auto", "on", "off"),
                   help="live progress line (auto, the default: on a TTY unless $CI is set)")


def gather_run_options(args: argparse.Namespace, extra: list[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.config:
        options.update({k.replace("-", "_"): v for k, v in load_yaml_mapping(args.config).items()})
    for k in ("variant", "data", "seed", "iterations", "results_dir", "progress"):
        if getattr(args, k, None) is not None:
            options[k] = getattr(args, k)
    options.update(parse_extra_options(extra))
    return options


def cmd_run(args: argparse.Namespace, extra: list[str]) -> int:
    options = check_run_names(gather_run_options(args, extra))   # names checked before torch is imported
    from models import ConfigError

    from .train.options import resolve
    from .train.run import execute

    try:
        resolved = resolve(options)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if args.print_config:
        import yaml

        sys.stdout.write(yaml.safe_dump(resolved.flat_options(), sort_keys=False))
        return 0
    check_writable(resolved.run.results_dir)
    lock = _lock_run(resolved)
    try:
        record = execute(resolved)
    finally:
        if lock is not None:
            lock.release()
    from lightning_fabric.utilities.rank_zero import rank_zero_only

    from .train.interrupt import STATE, interrupted_exit

    if getattr(rank_zero_only, "rank", 0) != 0:          # DDP: only rank 0 wrote the run and reports it
        if record["status"] == "interrupted":
            return STATE.exit_code or 143
        return 0 if record["status"] != "failed" else 1
    if record["status"] == "interrupted":
        return interrupted_exit(record)
    print(f"{record['run_id']}: {record['status']} after {record['steps']} iterations "
          f"in {record['wall_time_s']:.1f} s")
    for k, v in record["metrics"].items():
        print(f"  {k:16s} {v if v is None else f'{v:.4g}'}")
    if record.get("error"):
        print(f"  error: {record['error']}")
    print(f"  -> {record.get('written_to') or Path(resolved.run.results_dir) / 'runs' / (record['run_id'] + '.json')}")
    return 0 if record["status"] != "failed" else 1


def _lock_run(resolved):
    """Take the run id's lock (the one sweeps take) in the launching process; ``UsageError`` when another
    process is training the same run, so two copies of one command never write one checkpoint directory."""
    from .io import RunLock, launcher_rank, run_id

    if launcher_rank() > 0:                     # the launcher's process holds it for the whole DDP run
        return None
    rid = run_id(resolved.config())
    lock = RunLock(Path(resolved.run.results_dir) / "runs", rid)
    if not lock.acquire():
        raise UsageError(f"run {rid} is being trained by another process (pid {lock.holder()}, lock "
                         f"{lock.path}): wait for it to finish, stop it, or use another --results-dir")
    return lock


def cmd_report(args: argparse.Namespace) -> int:
    if args.publish_wandb_report:
        return publish_report_file(args.publish_wandb_report)
    from .report import build_report

    check_writable(args.results_dir)
    try:
        paths = build_report(args.results_dir, wandb=args.wandb)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    for p in paths:
        print(f"wrote {p}")
    if args.wandb_report:
        return publish_report(args)
    return 0


def publish_report(args: argparse.Namespace) -> int:
    """``report --wandb-report``: the W&B Report of the results directory (:mod:`benchmark.report.wandb_report`)."""
    from .io import load_runs
    from .report.wandb_report import publish_wandb_report

    try:
        publish_wandb_report(load_runs(args.results_dir), project=args.project,
                             out=Path(args.results_dir) / "wandb_report.json")
    except ImportError as e:
        raise UsageError(str(e)) from None
    except Exception as e:                       # the local report is written; say why W&B has no copy
        print(f"warning: W&B report not saved ({type(e).__name__}: {e}); re-run `python -m benchmark report "
              f"--wandb-report` once W&B is reachable", file=sys.stderr)
        return 1
    return 0


def publish_report_file(path: str) -> int:
    """``report --publish-wandb-report FILE``: save a report that ``--wandb-report`` kept while offline."""
    if not Path(path).is_file():
        raise UsageError(f"--publish-wandb-report {path!r}: no such file (`report --wandb-report` writes "
                         "RESULTS_DIR/wandb_report.json)")
    from .report.wandb_report import publish_report_file as publish

    try:
        publish(path)
    except (ImportError, RuntimeError, ValueError) as e:
        raise UsageError(f"--publish-wandb-report {path!r}: {e}") from None
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    sweep_file = args.sweep or Path(__file__).parent / "sweeps" / "default.yaml"
    check_sweep_names(load_yaml_mapping(sweep_file, "sweep"), sweep_file,      # names, before torch is imported
                      check_data=not (args.dry_run or args.export_wandb))
    from .train.sweep_command import sweep_command

    return sweep_command(args.sweep, quick=args.quick, results_dir=args.results_dir, jobs=args.jobs,
                         progress=args.progress, export_to=args.export_wandb, index_grid=args.index_grid,
                         dry_run=args.dry_run, index=args.index, population=args.population)


def cmd_tune(args: argparse.Namespace) -> int:
    from models import ConfigError

    from .train import sweep as S
    from .train.tune import tune

    spec = S.load_sweep(args.sweep)
    try:
        S.plan(spec)                                   # the same validation as running it
        recipes = args.recipes or str(Path(S.DEFAULT_SWEEP).parent / "recipes.yaml")
        check_writable(Path(recipes).parent)
        tune(spec, args.results_dir, recipes, stream=sys.stdout)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    print(f"wrote {recipes}: review it (git diff) and commit; sweeps read it with `recipes: recipes.yaml`")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from .io import load_runs
    from .report.check import (
        ThresholdError,
        calibration_mismatches,
        describe_calibration,
        evaluate_bounds,
        format_table,
        load_calibration,
        load_thresholds,
        thresholds_path,
    )

    args.thresholds = thresholds_path(args.results_dir, args.thresholds)
    try:
        bounds = load_thresholds(args.thresholds)
        calibration = load_calibration(args.thresholds)
    except ThresholdError as e:
        raise UsageError(str(e)) from None
    if args.only:
        wanted = {tuple(x.split("/", 1)) for x in args.only.split(",") if x}
        bad = [w for w in wanted if len(w) != 2]
        if bad:
            raise UsageError(f"--only takes VARIANT/DATASET[,VARIANT/DATASET...], got {args.only!r}")
        bounds = [b for b in bounds if (b.variant, b.dataset) in wanted]
        if not bounds:
            raise UsageError(f"--only {args.only!r} selects no bound of {args.thresholds}")
    rows = evaluate_bounds(bounds, load_runs(args.results_dir), group=args.group)
    print(f"thresholds: {args.thresholds}")
    print(f"calibrated on: {describe_calibration(calibration)}")
    differ = calibration_mismatches(calibration, rows)
    if differ:
        print(f"warning: the runs of {args.results_dir} differ from that calibration ({'; '.join(differ)}): a "
              "breach below may come from the budget or seeds, not a regression")
    print(format_table(rows))
    if differ:
        print("(these bounds were calibrated on other budgets or seeds: see the warning above)")
    return 0 if all(r.passed for r in rows) else 1


def cmd_perf(args: argparse.Namespace) -> int:
    if args.suite == "gpu":
        from .perf.gpu import cmd_gpu_suite as run
    else:
        from .perf.harness import cmd_perf as run

    return run(args)


def cmd_evaluate(args: argparse.Namespace) -> int:
    if (args.images is None) == (args.points is None):
        raise UsageError("evaluate needs exactly one of --images DIR (images) and --points FILE.npy (2-D points)")
    from .suggest import missing_data

    missing = missing_data(args.reference, {}, command="evaluate")     # before torch is imported
    if missing:
        raise UsageError(missing)
    if args.points is not None:
        from .score.points import run_points_evaluate as run_evaluate
    else:
        from .score.folder import run_evaluate

    try:
        return run_evaluate(args)
    except KeyboardInterrupt:
        print("evaluate interrupted (Ctrl-C): nothing was written; re-run the command to score", file=sys.stderr)
        return 130
    except (FileNotFoundError, KeyError, ValueError) as e:
        raise UsageError(str(e.args[0]) if e.args else str(e)) from None


def cmd_generate(args: argparse.Namespace) -> int:
    from .generate import cmd_generate as run

    return run(args)


COMMANDS: dict[str, Callable] = {"generate": cmd_generate, "sweep": cmd_sweep, "tune": cmd_tune, "check": cmd_check, "perf": cmd_perf, "evaluate": cmd_evaluate,
                                 "theory": lambda args: __import__("benchmark.theory").theory.cmd_theory(args)}


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m benchmark",
                                     description="GANBench: train classic GAN objectives under one protocol.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("list", help="list the registered variants, datasets and metrics")
    p = sub.add_parser("run", help="train and score one configuration; extra --name value pairs set any option",
                       add_help=False,
                       epilog="Every option of the variant's Config, the dataset and the run can be given as "
                              "--name value; `python -m benchmark options --variant V --data D` lists them.")
    add_run_arguments(p)
    p = sub.add_parser("options", help="list every option of a variant on a dataset with its default")
    p.add_argument("--variant", default="nsgan")
    p.add_argument("--data", default="ring8")
    p.add_argument("--sweep", default=None, metavar="SWEEP",
                   help="show the values this sweep uses for the run (its levels and recipes applied): a sweep "
                        "file or a name under benchmark/sweeps/, e.g. default")
    p = sub.add_parser("sweep", help="run a sweep file (default: the embedded toy + digits sweep), resumably")
    p.add_argument("sweep", nargs="?", help="sweep YAML (default: benchmark/sweeps/default.yaml)")
    p.add_argument("--quick", action="store_true", help="the sweep's smoke-check size")
    p.add_argument("--jobs", type=int, default=None,
                   help="runs at once, each on its own GPU or CPU threads (default: one per GPU, else per core)")
    p.add_argument("--results-dir", dest="results_dir", default=None)
    p.add_argument("--dry-run", action="store_true", help="print the expanded runs and exit")
    p.add_argument("--export-wandb", metavar="PATH",
                   help="write the sweep as a W&B sweep configuration (a search: one `method: random` sweep "
                        "per variant and dataset, in the directory PATH)")
    p.add_argument("--index-grid", action="store_true",
                   help="with --export-wandb on a search: a grid over the planned runs' index instead (the "
                        "exact trials of this file)")
    p.add_argument("--index", type=int, default=None, help="run only the K-th run of the sweep (W&B agents)")
    p.add_argument("--population", default=None, metavar="S",
                   help="train runs that differ only in seed (or a search trial's optimiser numbers) as vectorised "
                        "populations of up to S members (`auto`: per device; 0: one run at a time); overrides the "
                        "sweep file's `population:`")
    p.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                   help="live progress (auto: on a TTY unless $CI is set)")
    p = sub.add_parser("tune", help="pick each variant's best trial of a search sweep and write the recipes file")
    p.add_argument("sweep", help="the search sweep YAML (with a `search:` section) whose runs are finished")
    p.add_argument("--results-dir", dest="results_dir", default="results")
    p.add_argument("--recipes", default=None, help="recipes file to write (default: benchmark/sweeps/recipes.yaml)")
    p = sub.add_parser("check", help="compare the latest results with results/thresholds.yaml (exit 1 on a breach)")
    p.add_argument("--thresholds", default=None,
                   help="bounds file (default: RESULTS_DIR/thresholds.yaml, else the repository's one)")
    p.add_argument("--results-dir", dest="results_dir", default="results")
    p.add_argument("--group", default=None, help="only runs of this sweep group")
    p.add_argument("--only", default="", help="only the bounds of VARIANT/DATASET[,VARIANT/DATASET...]")
    add_perf_parser(sub)                             # argument definitions only: no torch import
    add_evaluate_parser(sub)
    add_theory_parser(sub)
    p = sub.add_parser("generate", help="write N samples of a trained run (PNGs, or .npy for points) for evaluate")
    p.add_argument("--run", required=True, help="a run JSON, or a run id under --results-dir/runs")
    p.add_argument("--num", type=int, default=None,
                   help="samples to write (default: as many as the run's metrics scored, its protocol)")
    p.add_argument("--out", required=True, help="a new (or empty) folder for the samples")
    p.add_argument("--seed", type=int, default=None, help="noise seed (default: the run's seed)")
    p.add_argument("--results-dir", dest="results_dir", default="results", help="where a run id is looked up")
    p = sub.add_parser("report", help="aggregate results/runs/*.json into summary tables and plots")
    p.add_argument("--results-dir", dest="results_dir", default="results")
    p.add_argument("--wandb-report", action="store_true",
                   help="also build a W&B Report (leaderboards, curves, samples): kept in RESULTS_DIR/"
                        "wandb_report.json, saved to W&B when an API key is set")
    p.add_argument("--publish-wandb-report", metavar="FILE", default=None,
                   help="save a report kept by --wandb-report while offline (RESULTS_DIR/wandb_report.json) to W&B")
    p.add_argument("--wandb", choices=("auto", "online", "offline", "disabled"), default="disabled",
                   help="also log the comparison table as a W&B run of job type report (default disabled: "
                        "`report` creates no W&B run; auto: online iff WANDB_API_KEY is set)")
    p.add_argument("--project", default="ganbench", help="W&B project of the report's runs (as `run --project`)")
    return parser


def cmd_options(args: argparse.Namespace) -> int:
    args.variant = check_name("variant", args.variant, VARIANTS)
    args.data = check_name("dataset", args.data, DATASETS)
    from models import ConfigError

    from .train.option_help import format_rows, format_sweep_cell, option_rows, sweep_options, with_sweep_values

    try:
        rows = defaults = option_rows(args.variant, args.data)
        if args.sweep:
            path, values = sweep_options(args.sweep, args.variant, args.data)
            rows = with_sweep_values(rows, values)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    except ConfigError as e:
        raise UsageError(str(e)) from None
    if args.sweep:
        print(f"options of a run of {args.variant!r} on {args.data!r} in sweep {path} (its values, recipes "
              "applied; [sweep] marks those that differ from the default): owner, --name, value, type, help")
    else:
        print(f"options of a run of {args.variant!r} on {args.data!r} (owner, --name, default, type or choices, "
              "help):")
    sys.stdout.write(format_rows(rows))
    try:
        sys.stdout.write(format_sweep_cell(args.variant, args.data, defaults, args.sweep))
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else argv
    args, extra = parser.parse_known_args(argv)
    try:
        if args.command is None:
            parser.print_help()
            return EXIT_USAGE
        if args.command == "run":
            return cmd_run(args, extra)
        if extra:
            raise UsageError(f"unrecognised arguments: {' '.join(extra)}")
        handler = {"list": cmd_list, "report": cmd_report, "options": cmd_options, **COMMANDS}[args.command]
        return handler(args)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
