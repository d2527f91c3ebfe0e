"""``lab watch SCENARIO_OR_RUN [--episodes N] [--record FILE.gif|.mp4] [--fps F] [--seed S] [--size WxH]``."""

from pathlib import Path

from lab import registry, scenario
from lab.commands.play import maze_errors, parse_size
from lab.commands.run import add_live_arguments, live_settings
from lab.errors import ScenarioError, UsageError
from lab.execute import prepare, run_prepared
from lab.runs import RunDir

USES_TENSORFLOW = True
DESCRIPTION = """Watch a trained maze agent walk: the maze, the agent, its trail, the greedy action of \
every cell
(arrows) and max-Q (heatmap), with steps taken against the BFS-optimal length.

Given a run folder it loads the agent; given a scenario file it trains first (with a progress bar, or
with --live a window that shows it learning). Where there is a display a pygame window opens (Esc or
closing it stops); where there is none the episodes are recorded as a GIF in the run folder
(artifacts/watch.gif) and its path is printed; with --live the learning becomes a time-lapse there too
(artifacts/learning.gif; --record FILE copies it to FILE)."""


def add_arguments(p):
    p.add_argument("target",
                   help="a maze-dqn run folder, or a scenario file / shipped scenario name to train first")
    p.add_argument("--episodes", type=int, default=3, help="episodes to play (default 3)")
    p.add_argument("--record", metavar="FILE",
                   help="also record to FILE (.gif, or .mp4 with the `video` extra)")
    p.add_argument("--fps", type=int, help="frames per second (default: the scenario's env.render_fps)")
    p.add_argument("--seed", type=int, help="random mazes: play the mazes of seeds S, S+1, ... (default: "
                                            "unseen evaluation mazes)")
    p.add_argument("--size", metavar="WxH", help="play mazes of another size in cells, e.g. 15x15 (vin "
                   "agents only: they plan on any size)")
    p.add_argument("--no-window", action="store_true", help="never open a window: record only")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a scenario field before training (scenario files only)")
    p.add_argument("--out", help="folder for the run folder when training (default runs/)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    add_live_arguments(p)


MAX_EPISODES = 10_000
TASK = "maze-dqn"

# lab watch's option for each setting that the task's serve.WatchError names
FLAGS = {"record file": "--record", "maze size": "--size", "episodes": "--episodes",
         "frames per second": "--fps"}


def main(args) -> int:
    serve = registry.serve(TASK)
    try:
        return _watch(args, serve)
    except serve.WatchError as exc:  # the same complaint, worded with the option it came from
        flag = FLAGS.get(exc.setting, exc.setting)
        raise UsageError(f"{flag}{'' if exc.value is None else f' {exc.value}'}: {exc.detail}") from exc


def _watch(args, serve) -> int:
    serve.check_settings(args.episodes, args.fps, args.record)  # before any training
    if args.seed is not None and not 0 <= args.seed <= 2**32 - 1:
        raise UsageError(f"--seed {args.seed}: a maze seed is a whole number from 0 to 4294967295")
    if args.episodes > MAX_EPISODES:
        raise UsageError(f"--episodes {args.episodes}: watch at most {MAX_EPISODES:,}")
    size = parse_size(args.size) if args.size else None
    run = _run_folder(args) if Path(args.target).is_dir() else _train(args)
    record = None if args.live else args.record  # (with --live, --record FILE receives the time-lapse)
    # The maze env's own errors: of --size when it is given (the resized maze), else of the run's scenario.
    with maze_errors(UsageError if size else ScenarioError):
        result = serve.watch(run.path, episodes=args.episodes, record=record, fps=args.fps,
                             seed=args.seed, window=False if args.no_window else None, size=size)
    if args.live and (run.artifacts / "learning.gif").exists():
        print(f"learning time-lapse: {args.record or run.artifacts / 'learning.gif'}")
    if result["recording"] is not None:
        print(f"recording: {result['recording']}")
    for i, r in enumerate(result["results"], 1):
        state = "solved" if r["success"] else "not solved"
        print(f"episode {i}: {state} in {r['steps']} steps (optimal {r['optimal']})")
    print(f"run: {run.path}")
    return 0


def _run_folder(args) -> RunDir:
    if args.live:
        raise UsageError("--live shows training: give a scenario to train (a run folder is trained already)")
    if args.overrides:
        raise UsageError("--set applies to scenario files; a run folder keeps its own scenario")
    run = RunDir.open(args.target)
    run.require_task(TASK, command="lab watch")
    return run


def _train(args) -> RunDir:
    """Train the scenario ``args.target`` (a maze-dqn one) with a progress bar; its run folder."""
    checked = scenario.load_scenario(scenario.resolve_scenario_path(args.target), args.overrides)
    if checked.task != TASK:
        raise ScenarioError(f"{args.target}: a {checked.task} scenario; lab watch needs a maze-dqn scenario "
                            "(or a maze-dqn run folder)")
    live = live_settings(args, checked.task, copy_to=args.record)
    cfg, run = prepare(args.target, args.overrides, args.out)
    run = run_prepared(cfg, run, quiet=args.quiet, live=live)
    print(trained_line(run.summary()))
    return run


def trained_line(summary: dict) -> str:
    """What training reached; the path ratio is None (none solved) after a run that solved no maze."""
    ratio = summary.get("eval_path_ratio")
    ratio = "none solved" if ratio is None else f"{ratio:.3f}"
    return (f"trained in {summary.get('train_seconds') or 0:.1f} s, {summary.get('env_steps') or 0:,} env "
            f"steps: success {summary.get('eval_success_rate') or 0:.0%}, path ratio {ratio}")
