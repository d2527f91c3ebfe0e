"""Errors the user can fix. The CLI prints them as ``error: ...`` and exits 2 (no traceback)."""

from __future__ import annotations


class LabError(Exception):
    """Base class for every mistake a user can make: bad scenario, bad data file, bad run folder, bad
    argument."""

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.problems = list(problems or [])

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class ScenarioError(LabError):
    """A scenario file (or a ``--set`` override) is missing, not YAML, or does not validate."""


class DataError(LabError):
    """A data file is missing, corrupt or in an unknown layout (the message names the file and where)."""


class RunError(LabError):
    """A run folder is missing, is not a run, or is not the kind of run a command needs."""


class StrategyError(LabError):
    """The requested device strategy cannot be honoured on this machine."""


class UsageError(LabError):
    """A command-line argument is wrong."""


class TrainingError(LabError):
    """Training went wrong in a way the settings can fix (a loss that became NaN or infinite)."""


class Pruned(LabError):
    """A run stopped by the pruner of the study it is a trial of (`lab sweep`): its figures so far were
    too far behind the other trials'. Its run folder is marked ``pruned``."""


class StopRequested(KeyboardInterrupt):  # noqa: N818 (it is a request, handled like Ctrl-C, not an error)
    """The person watching a run asked it to stop (Esc or closing the live window of ``--live``). Like
    Ctrl-C the run keeps its last checkpoint (the live view saves one first), is marked ``interrupted`` and
    continues with ``lab run --resume``; unlike Ctrl-C the command then exits 0: nothing went wrong."""
