"""``lab launch --workers N FILE [--set a.b=value ...] [--out DIR] [--resume RUN_DIR] [--quiet] [--grace S]``.

Runs a scenario under TensorFlow's own multi-worker runtime on this machine: N ``lab run`` processes,
each told by ``TF_CONFIG`` where the others are. The launcher starts and watches them (see
:mod:`lab.launch`); it never imports TensorFlow itself, so it has no USES_TENSORFLOW.
"""

import argparse

from lab.commands.run import print_summary
from lab.launch import MAX_WORKERS, check_workers, launch, prepare_launch

DESCRIPTION = f"""Run a scenario with TensorFlow's multi-worker runtime (strategy multi-worker): N local
worker processes, each `lab run` with its own TF_CONFIG on free ports of 127.0.0.1. Worker 0 is the chief
and writes the run folder; every worker's output goes to RUN/logs/worker-<i>.log and, prefixed
`[worker i]`, to stderr. If one worker fails the others are stopped and the run can be continued with
`lab launch --workers N --resume RUN_DIR`. The last line on stdout is `run: <path of the run folder>`.

On one machine the N workers share its cores (each gets cores/N threads), so this is for testing a cluster
set-up and for hosts with several GPUs; the real speed-up needs several machines, each running `lab run`
with its own TF_CONFIG.

Examples:
  lab launch --workers 2 scenarios/mnist_mlp_book.yaml --set training.epochs=3
  lab launch --workers 2 --resume runs/<run folder>

--workers is 1 ... {MAX_WORKERS}."""


def _workers(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of workers, 1 ... {MAX_WORKERS}")
    return n


def _grace(text: str) -> float:
    try:
        s = float(text)
    except ValueError:
        s = -1.0
    if not 0 <= s <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r}: give the seconds to wait, 0 ... 3600")
    return s


def add_arguments(p):
    p.add_argument("scenario", nargs="?", help="scenario file, or the name of one in scenarios/")
    p.add_argument("--workers", type=_workers, required=True, metavar="N",
                   help=f"number of worker processes (1 ... {MAX_WORKERS})")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE",
                   help="override a field (value parsed as YAML); repeatable; strategy is always "
                        "multi-worker")
    p.add_argument("--out", help="folder for the run folder (default: the scenario's `output`, runs/)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted or failed multi-worker run")
    p.add_argument("--quiet", action="store_true",
                   help="show nothing from the workers (their logs are still written)")
    p.add_argument("--grace", type=_grace, default=10.0, metavar="SECONDS",
                   help="how long stopped workers get to exit before SIGKILL (default 10)")


def main(args) -> int:
    check_workers(args.workers)
    # Validate (and create the run folder) before any worker starts: mistakes are reported at once.
    run = prepare_launch(args.scenario, args.overrides, args.out, args.resume)
    run = launch(run, args.workers, grace=args.grace, quiet=args.quiet)
    print_summary(run, args.quiet)
    print(f"run: {run.path}")
    return 0
