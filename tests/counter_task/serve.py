"""What ``lab count`` calls: the total a finished counter run reached."""

from lab.errors import RunError
from lab.runs import RunDir


def total(run_path: str) -> dict:
    run = RunDir.open(run_path)
    run.require_task("counter", command="lab count")
    summary = run.summary()
    if not summary:
        raise RunError(f"{run.path}: not finished yet; continue it with `lab run --resume {run.path}`")
    return {"total": summary["total"], "steps": summary["steps"]}
