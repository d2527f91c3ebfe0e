"""The ``lab`` command.

Each subcommand is a module in :mod:`lab.commands` with ``add_arguments(parser)`` and ``main(args) -> int``
(and optionally ``DESCRIPTION`` and ``USES_TENSORFLOW``); adding one is adding a module and its line to
``COMMANDS``. Only the module of the command being run is imported, so ``lab --help`` imports none and
``lab list`` / ``lab validate`` import no TensorFlow: commands that need it say ``USES_TENSORFLOW = True``
and it is started quietly before their ``main``.

User mistakes raise :class:`lab.errors.LabError`: printed as ``error: ...``, exit status 2.
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from lab.backend import choose_backend, start_tensorflow
from lab.errors import LabError, StopRequested

COMMANDS = {
    "run": "run a scenario; writes a run folder and prints its path last",
    "launch": "run a scenario with N local TensorFlow multi-worker processes; prints the run folder's path "
              "last",
    "sweep": "tune a scenario with an Optuna study: trials as run folders, pruning, best.yaml and a report",
    "pipeline": "write a DVC pipeline (dvc.yaml) for scenarios: dvc repro re-runs only what changed",
    "deploy": "write a job file that runs a scenario on a cluster: an sbatch script (slurm), Kubernetes "
              "manifests (k8s)",
    "version": "print the lab's version (--write FILE: as YAML, for DVC pipelines)",
    "validate": "check scenario files: every mistake at once, with its field path and a fix",
    "list": "list the shipped scenarios (and, with --tasks, the tasks)",
    "show": "show what a run did and its final figures",
    "compare": "compare runs of one task: differing scenario fields, final figures side by side, curves in "
               "one plot",
    "graph": "draw the Keras models saved in a run as Graphviz DOT (and PNG/SVG when dot is installed)",
    "play": "play a maze yourself: arrow keys move, R resets, N draws a new maze, Esc quits (needs a "
            "display)",
    "watch": "watch a DQN agent solve mazes (trains first when given a scenario)",
    "sample": "draw digits from a VAE run: prior samples, interpolations, traversals, the 2-D manifold, a "
              "latent scatter",
    "recommend": "top-N movies from a finished RBM run, for a user of its data or for a new person",
    "predict": "classify image files (or the run's own test images) with a finished classifier run",
    "generate": "write text with a finished language-model run, streamed as it is sampled",
    "serve": "serve finished runs as a web page and an HTTP API (recommendations, drawing pad, text, VAE, "
             "maze)",
    "bench": "measure matmul, conv2d and training-step speeds on the CPU and each GPU, against their peaks",
}


def build_parser(argv: list[str] | tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """The parser of ``lab``; the arguments of the command named in ``argv`` (its module imported) only."""
    parser = argparse.ArgumentParser(
        prog="lab",
        description="The lab: reinforcement learning and generative models with Keras 3. "
        "Scenario files (YAML) pick a task, its settings and a device strategy.",
        epilog="Examples:\n  lab list\n  lab validate scenarios/*.yaml\n  lab run "
        "scenarios/first_network.yaml --set training.learning_rate=0.5\n  lab show runs/<run>",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for developers)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, help_ in COMMANDS.items():
        p = sub.add_parser(name, help=help_, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        if name == chosen:
            module = importlib.import_module(f"lab.commands.{name}")
            p.description = getattr(module, "DESCRIPTION", help_)
            module.add_arguments(p)
            p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    choose_backend()  # JAX when TensorFlow is not installed
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    debug = getattr(args, "debug", False)
    try:
        if getattr(args._module, "USES_TENSORFLOW", False):
            start_tensorflow()
        return int(args._module.main(args) or 0)
    except LabError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except StopRequested:  # the live window's Esc: the run stopped cleanly, resumable
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        return 130
    except BrokenPipeError:  # `lab list | head`: the reader went away; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
