"""``lab sweep SCENARIO|SWEEP_FILE [--trials N] [--param PATH=KIND:ARGS ...] [--metric M]
[--maximize|--minimize] [--pruner median|hyperband|none] [--timeout S] [--workers N]
[--storage URL --study NAME] [--out DIR]``,
``lab sweep --resume FOLDER``: tune a scenario with an Optuna study (see :mod:`lab.sweep`)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from lab import scenario
from lab.errors import RunError, UsageError
from lab.runs import sanitise_name, utc_stamp
from lab.sweep import report
from lab.sweep.space import PRUNERS, check_space, choose_metric, is_sweep_file, parse_param, read_sweep_file
from lab.sweep.study import Sweep, continue_stale, open_study, sqlite_url, work

USES_TENSORFLOW = True
DESCRIPTION = """Tune any scenario with an Optuna study: a TPE sampler seeded from the scenario's seed, a
pruner fed by every epoch's (or evaluation's) figures, the study in SQLite in the sweep folder or in any
database (--storage) that several machines join. Each trial is an ordinary run folder trial-NNN of the
sweep folder. At the end: best.yaml (the best trial's scenario), report.md with the trials, fANOVA
importances and plots, summary.json.

Parameters: PATH=float:LOW:HIGH, PATH=loguniform:LOW:HIGH, PATH=int:LOW:HIGH, PATH=choice:A,B,C
(e.g. --param training.learning_rate=loguniform:1e-4:1e-2 --param model.hidden=choice:[64]|[128,128]).
A sweep file holds the same: scenario:, set:, params: {PATH: KIND:ARGS}, trials:, metric:, pruner:."""


def add_arguments(p):
    p.add_argument("target", nargs="?", help="a scenario file or shipped name, or a sweep file")
    p.add_argument("--param", action="append", default=[], metavar="PATH=KIND:ARGS",
                   help="a parameter to search (repeatable); KIND: float, loguniform, int, choice")
    p.add_argument("--trials", type=int, help="trials to finish (default 20)")
    p.add_argument("--metric", help="the summary figure to optimise (default: the task's headline)")
    way = p.add_mutually_exclusive_group()
    way.add_argument("--maximize", dest="direction", action="store_const", const="maximize")
    way.add_argument("--minimize", dest="direction", action="store_const", const="minimize")
    p.add_argument("--pruner", choices=PRUNERS, help="stops hopeless trials early (default median)")
    p.add_argument("--prune-after", type=int, metavar="ROWS",
                   help="metrics rows (epochs, evaluations) a trial reports before it may be pruned "
                        "(default 1: never on its first)")
    p.add_argument("--timeout", type=float, metavar="SECONDS", help="start no new trial after this long")
    p.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
    p.add_argument("--storage", metavar="URL", help="an SQLAlchemy URL (default: SQLite in the sweep folder)")
    p.add_argument("--study", help="the study's name in --storage (machines giving one name join one study)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario field in every trial")
    p.add_argument("--out", help="folder for the sweep folder (default runs/)")
    p.add_argument("--resume", metavar="FOLDER", help="continue a sweep folder after Ctrl-C or a crash")
    p.add_argument("--json", action="store_true", help="print summary.json only")
    p.add_argument("--quiet", action="store_true", help="no line per trial")
    p.add_argument("--worker-index", type=int, default=0, help=argparse.SUPPRESS)  # (a spawned worker)


def main(args) -> int:
    if not 1 <= args.workers <= 64:
        raise UsageError(f"--workers {args.workers}: give 1 to 64 local worker processes")
    if args.prune_after is not None and args.prune_after < 0:
        raise UsageError(f"--prune-after {args.prune_after}: give 0 or more metrics rows")
    sweep = resume_settings(args) if args.resume else new_sweep(args)
    say = (lambda line: None) if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
    if args.worker_index:  # a worker `lab sweep --workers N` started: trials only
        work(sweep, args.worker_index, say)
        return 0
    try:
        run_workers(sweep, args.workers, say, resumed=bool(args.resume), quiet=args.quiet)
    except KeyboardInterrupt:
        print(f"\ninterrupted; continue with: lab sweep --resume {sweep.folder}", file=sys.stderr)
        raise
    summary = report.write(sweep)
    print_summary(summary, args.json)
    return 0


def new_sweep(args) -> Sweep:
    file = read_sweep_file(Path(args.target)) if args.target and is_sweep_file(args.target) else None
    target = file.scenario if file else args.target
    if not target:
        raise UsageError("give a scenario (or a sweep file) to tune, or --resume FOLDER")
    if (args.storage is None) != (args.study is None):
        raise UsageError("--storage and --study go together: the machines of one study give the same two")
    path = scenario.resolve_scenario_path(target).resolve()
    overrides = [*(file.set if file else []), *args.overrides]
    texts = [f"{k}={v}" for k, v in (file.params if file else {}).items()] + args.param
    params = [parse_param(t) for t in texts]
    if not params:
        raise UsageError("give at least one --param PATH=KIND:ARGS to search, e.g. "
                         "--param training.learning_rate=loguniform:1e-4:1e-1")
    base = check_space(path, overrides, params)
    metric, direction, figure = choose_metric(base, args.metric or (file and file.metric),
                                              args.direction or (file and file.direction))
    trials = args.trials or (file and file.trials) or 20
    folder = make_folder(Path(args.out or base.output), base.name)
    sweep = Sweep(folder=folder, scenario=str(path), overrides=overrides, params=params, trials=trials,
                  metric=metric, direction=direction, progress=figure.progress,
                  progress_sign=figure.progress_sign,
                  pruner=args.pruner or (file and file.pruner) or "median",
                  prune_after=first_given(args.prune_after, file and file.prune_after, 1),
                  timeout=args.timeout or (file and file.timeout),
                  storage=args.storage or sqlite_url(folder),
                  study=args.study or folder.name, seed=base.seed, task=base.task)
    try:
        open_study(sweep)  # an unreachable database is an error before anything is written
    except Exception:
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
        raise
    sweep.save()
    return sweep


def first_given(*values):
    return next(v for v in values if v is not None)


def make_folder(out: Path, name: str) -> Path:
    if out.exists() and not out.is_dir():
        raise RunError(f"{out}: the output folder is a file; give another --out")
    out.mkdir(parents=True, exist_ok=True)
    base = f"{utc_stamp()}-{sanitise_name(name)}-sweep"
    for i in range(1000):
        folder = out / (base if i == 0 else f"{base}-{i + 1}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
    raise RunError(f"{out}: no free sweep folder name")


def resume_settings(args) -> Sweep:
    flags = [f for f, given in (("a target", args.target), ("--param", args.param), ("--set", args.overrides),
                                ("--trials", args.trials), ("--metric", args.metric),
                                ("--storage", args.storage), ("--prune-after", args.prune_after is not None))
             if given]
    if flags:
        raise UsageError(f"--resume keeps the sweep's own settings; drop {', '.join(flags)}")
    folder = Path(args.resume)
    if not folder.is_dir():
        raise RunError(f"{folder}: no such sweep folder")
    return Sweep.load(folder)


def run_workers(sweep: Sweep, workers: int, say, resumed: bool, quiet: bool) -> None:
    """Continue this machine's dead trials (on --resume), then work: in this process for one worker, else
    in ``workers`` processes started alike (this one waits for them)."""
    if resumed:
        continue_stale(sweep, say)
    if workers == 1:
        work(sweep, 0, say)
        return
    command = [sys.executable, "-m", "lab", "sweep", "--resume", str(sweep.folder)]
    procs = [subprocess.Popen([*command, "--worker-index", str(i), *(["--quiet"] if quiet else [])])
             for i in range(1, workers + 1)]
    try:
        for proc in procs:
            proc.wait()
    finally:
        for proc in procs:  # (Ctrl-C reached them too; a worker still running after that is stopped)
            if proc.poll() is None:
                proc.terminate()
    failed = [f"worker {i} exited with code {p.returncode}" for i, p in enumerate(procs, 1) if p.returncode]
    if failed:
        raise RunError(f"{'; '.join(failed)}; its trials are in {sweep.folder} (continue with lab sweep "
                       f"--resume {sweep.folder})")


def print_summary(summary: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(summary, indent=2))
        return
    best = summary.get("best")
    print(f"trials: {summary['trials_finished']} finished of {summary['trials_asked']} "
          f"({summary['trials_complete']} complete, {summary['trials_pruned']} pruned, "
          f"{summary['trials_failed']} failed)")
    if best:
        params = ", ".join(f"{k}={v}" for k, v in best["params"].items())
        print(f"best: trial {best['trial']}, {summary['metric']} {best['value']:.6g} ({params})")
        print(f"best scenario: {summary['best_scenario']}")
    print(f"report: {Path(summary['folder']) / 'report.md'}")
    print(f"sweep: {summary['folder']}")
