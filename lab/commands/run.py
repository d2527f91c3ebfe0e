"""``lab run FILE [--set a.b=value ...] [--out DIR [--folder NAME [--continue]]] [--resume RUN_DIR]
[--quiet]``."""

import os
from pathlib import Path

from lab import scenario
from lab.context import LiveSettings
from lab.distributed import role
from lab.errors import UsageError
from lab.execute import is_scratch, prepare, run_prepared
from lab.runs import RunDir, sanitise_name

DESCRIPTION = """Run a scenario file (or a shipped scenario's name) and write runs/<UTC time>-<name>/ (or
OUT/NAME with --out OUT --folder NAME: a fixed place, as DVC stages and cluster jobs want).

The last line on stdout is `run: <path of the run folder>`. An interrupted run continues with
`lab run --resume RUN_DIR`."""


def add_arguments(p):
    p.add_argument("scenario", nargs="?", help="scenario file, or the name of one in scenarios/")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a field (value parsed as YAML); repeatable")
    p.add_argument("--out", help="folder for the run folder (default: the scenario's `output`, runs/)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run from its last checkpoint")
    p.add_argument("--folder", metavar="NAME",
                   help="the run folder's name inside --out (default <UTC time>-<scenario name>); an "
                        "existing folder of that name is an error, unless --continue")
    p.add_argument("--continue", dest="continue_", action="store_true",
                   help="with --folder: if that run folder exists (a restarted or requeued cluster job), "
                        "continue it from its last checkpoint instead")
    p.add_argument("--quiet", action="store_true", help="no progress bars or messages")
    live = p.add_argument_group("watching it learn (maze-dqn)")
    add_live_arguments(live)
    live.add_argument("--no-window", action="store_true", help="with --live: no window, the time-lapse only")
    live.add_argument("--record", action="store_true",
                      help="with --live: also write the time-lapse (artifacts/learning.gif) beside a window")
    live.add_argument("--fps", type=float, help=f"with --live: frames per second (default {LIVE_FPS:g})")


LIVE_TASKS = ("maze-dqn",)
LIVE_FPS = 4.0


def add_live_arguments(p) -> None:
    p.add_argument("--live", action="store_true",
                   help="show the learning as it happens: a window (Space pauses, +/- frame rate, n next "
                        "maze, s saves a picture, Esc stops with a checkpoint), or without a display a "
                        "time-lapse in the run folder (artifacts/learning.gif)")


def live_settings(args, task: str, copy_to: str | None = None) -> LiveSettings | None:
    """What --live (with --no-window, --record and --fps) asks for (None without --live); UsageError for a
    task that cannot show its learning."""
    fps = args.fps
    if not args.live:
        return None
    if task not in LIVE_TASKS:
        raise UsageError(f"--live: only {', '.join(LIVE_TASKS)} scenarios show their learning live; this is "
                         f"a {task} scenario (its curves are in the run folder's metrics.csv and report.md)")
    if fps is not None and not 0.1 <= fps <= 60:
        raise UsageError(f"--fps {fps:g}: give 0.1 to 60 frames per second")
    return LiveSettings(window=False if args.no_window else None, record=bool(args.record),
                        copy_to=Path(copy_to) if copy_to else None, fps=fps or LIVE_FPS)


def main(args) -> int:
    # Validate (and create the run folder) before TensorFlow is imported: mistakes are reported at once.
    if args.continue_ and not (args.folder and args.out):
        raise UsageError("--continue needs --out DIR and --folder NAME: the run folder to continue if it "
                         "exists")
    if args.folder and args.resume:
        raise UsageError("--folder names a new run folder; --resume continues an existing one: give one")
    resume = bool(args.resume) or (args.continue_ and (Path(args.out) / sanitise_name(args.folder)).exists())
    if not args.live and (args.no_window or args.record or args.fps is not None):
        raise UsageError("--no-window, --record and --fps go with --live")
    live = live_settings(args, scenario_task(args) if args.live else "")
    cfg, run = prepare(args.scenario, args.overrides, args.out, args.resume, folder=args.folder,
                       continue_=args.continue_)
    run = run_prepared(cfg, run, quiet=args.quiet, resume=resume, live=live)
    if is_scratch(run):
        print(f"{role().name}: done (a multi-worker run's files are the chief's to write)")
        return 0
    print_summary(run, args.quiet or "LAB_LAUNCH_WORKER" in os.environ)  # (lab launch prints the chief's)
    print(f"run: {run.path}")
    return 0


def scenario_task(args) -> str:
    """The task of the scenario (or of the run folder to resume), read without creating anything."""
    if args.resume:
        return RunDir.open(args.resume).task
    if not args.scenario:
        raise UsageError("give a scenario file (or --resume RUN_DIR)")
    return scenario.load_scenario(scenario.resolve_scenario_path(args.scenario), args.overrides).task


def print_summary(run, quiet: bool) -> None:
    """The run's final figures, one per line (nothing when ``quiet``)."""
    if quiet:
        return
    summary = run.summary()
    if summary:
        width = max(len(k) for k in summary)
        for k, v in summary.items():
            v = f"{v:.6g}" if isinstance(v, float) else v
            print(f"  {k:<{width}}  {v}")
