"""What `lab bench` reads back from a finished bench run: plain data, printed by the command."""

from __future__ import annotations

from pathlib import Path

from lab.runs import RunDir
from supervised.bench import measure, report


def results(run_dir: str | Path) -> dict:
    """A bench run's summary (every figure), its measured devices (name, description, notes on the peak
    and the skipped dtypes) and its tables (title, notes, headers, formatted cells, which columns are
    numbers)."""

    run = RunDir.open(run_dir)
    run.require_task("bench", command="lab bench")
    summary = run.summary()
    return {"summary": summary, "devices": report.devices(summary), "tables": report.tables(summary)}


def check_devices(which: str) -> None:
    """Refuse ``--device gpu`` on a machine without a GPU before any run folder is made (a StrategyError
    naming the flag); the runner checks the same again for a scenario that asks for it."""
    measure.choose(measure.list_devices(), which, [])
