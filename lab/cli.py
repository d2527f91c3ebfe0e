"""The ``lab`` command.

Each subcommand is a module in :mod:`lab.commands` with ``HELP``, ``add_arguments(parser)`` and
``main(args) -> int``; adding one is adding a module and its name to ``COMMANDS``. Command modules
import nothing heavy at module level, so ``lab --help``, ``lab list`` and ``lab validate`` never
import TensorFlow.

User mistakes raise :class:`lab.errors.LabError`: printed as ``error: ...``, exit status 2.
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from lab.errors import LabError

COMMANDS = ["run", "launch", "validate", "list", "show", "graph", "play", "watch", "sample", "recommend", "predict", "generate", "bench"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lab",
        description="The lab: reinforcement learning and generative models with Keras 3. "
        "Scenario files (YAML) pick a task, its settings and a device strategy.",
        epilog="Examples:\n  lab list\n  lab validate scenarios/*.yaml\n  lab run scenarios/first_network.yaml "
        "--set training.learning_rate=0.5\n  lab show runs/<run>",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks (for developers)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        module = importlib.import_module(f"lab.commands.{name.replace('-', '_')}")
        p = sub.add_parser(name, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser




def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 0
    debug = getattr(args, "debug", False)
    try:
        if getattr(args._module, "USES_TENSORFLOW", False):
            from lab.strategy import start_tensorflow

            start_tensorflow()
        return int(args._module.main(args) or 0)
    except LabError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if debug:
            raise
        return 130
    except BrokenPipeError:  # `lab list | head`: the reader went away; say nothing more
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
