"""An sbatch script that runs a scenario on a Slurm cluster (``lab deploy slurm``).

The script asks Slurm for N tasks (``--ntasks``, block distribution) and runs ``srun lab run ...`` once:
each task is one worker of TensorFlow's multi-worker runtime and finds the others from Slurm's own
variables (:mod:`lab.cluster`), so the script sets no ``TF_CONFIG``. Task 0 is the chief: it writes the
run folder ``OUT/<job name>-<job id>``; the others compute and write nothing but their output. A failed
or cancelled job continues from the chief's last checkpoint with a script written by ``lab deploy slurm
--resume RUN_DIR``; a requeued job (same id) continues by itself (``lab run --continue``).

The script runs the ``lab`` of the Python that wrote it (its absolute path) from the folder it was
written in: on a cluster both must be on a file system every node sees (as home folders usually are).
"""

from __future__ import annotations

import re
import shlex
import sys
from datetime import datetime, timezone
from pathlib import Path

from lab import __version__
from lab.deploy import absolute, job_name, resolve, resumable
from lab.errors import UsageError

# Slurm's --time: minutes, minutes:seconds, hours:minutes:seconds, days-hours, days-hours:minutes,
# days-hours:minutes:seconds (sbatch(1)); or UNLIMITED.
TIME = re.compile(r"^(\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}|UNLIMITED|unlimited|infinite)$")
PARTITION = re.compile(r"^[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*$")


def check_time(text: str | None) -> str | None:
    if text is not None and not TIME.match(text.strip()):
        raise UsageError(f"--time {text!r} is not a Slurm time: give minutes (90), hours:minutes:seconds "
                         f"(1:30:00) or days-hours:minutes (2-12:00)")
    return text.strip() if text else None


def check_partition(text: str | None) -> str | None:
    if text is not None and not PARTITION.match(text):
        raise UsageError(f"--partition {text!r}: give a partition name (letters, digits, '_', '.', '-'), or "
                         f"several separated by commas")
    return text


def script(scenario_file: str | None, workers: int, *, overrides=(), out: str | None = None,
           resume: str | None = None, gpus_per_worker: int = 0, cpus_per_worker: int | None = None,
           partition: str | None = None, time: str | None = None, name: str | None = None,
           python: str = sys.executable, cwd: Path | None = None) -> str:
    """The sbatch script's text (see the module docstring); a LabError for any bad input, before anything
    is written."""
    time, partition = check_time(time), check_partition(partition)
    if gpus_per_worker < 0 or (cpus_per_worker is not None and cpus_per_worker < 1):
        raise UsageError("--gpus-per-worker must be 0 or more and --cpus-per-worker 1 or more")
    if resume:
        run, resolved = resumable(resume)
        if workers > 1 and resolved.get("strategy") != "multi-worker":
            raise UsageError(f"{run.path} is a {resolved.get('strategy')} run, one process: resume it with "
                             f"--workers 1")
        job = job_name(name, str(resolved.get("name", "run")))
        command = [python, "-m", "lab", "run", "--resume", absolute(run.path), "--quiet"]
        what = f"continue {run.path}"
    else:
        cfg, path, extra = resolve(scenario_file, list(overrides), workers)
        job = job_name(name, cfg.name)
        out_dir = absolute(out or cfg.output)
        command = [python, "-m", "lab", "run", str(path), *[a for o in extra for a in ("--set", o)],
                   "--out", out_dir, "--folder", "@FOLDER@", "--continue", "--quiet"]
        what = f"{cfg.name} ({cfg.task}) into {out_dir}/{job}-<job id>"
    header = _header(job, workers, gpus_per_worker, cpus_per_worker, partition, time, cwd or Path.cwd())
    line = shlex.join(command).replace("@FOLDER@", '"${SLURM_JOB_NAME}-${SLURM_JOB_ID}"')
    again = (f"# If it fails or is cancelled, continue it: lab deploy slurm --resume RUN_DIR "
             f"--workers {workers} > resume.sbatch")
    return "\n".join([*header, "", f"# {what}: {workers} worker(s); task 0 is the chief.", again,
                      *_body(line), ""])


def _header(job, workers, gpus, cpus, partition, time, cwd: Path) -> list[str]:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["#!/bin/bash",
             f"# Written by `lab deploy slurm` (the lab {__version__}, {stamp}). Submit: `sbatch FILE`.",
             "# Each task is a worker of TensorFlow's multi-worker runtime; the lab reads the cluster from",
             "# Slurm's variables (SLURM_STEP_NODELIST, SLURM_STEP_TASKS_PER_NODE, SLURM_PROCID).",
             f"#SBATCH --job-name={job}",
             f"#SBATCH --ntasks={workers}",
             "#SBATCH --distribution=block",
             f"#SBATCH --chdir={cwd.resolve()}",
             "#SBATCH --output=%x-%j.out"]
    if cpus:
        lines.append(f"#SBATCH --cpus-per-task={cpus}")
    if gpus:
        lines.append(f"#SBATCH --gpus-per-task={gpus}")
    if partition:
        lines.append(f"#SBATCH --partition={partition}")
    if time:
        lines.append(f"#SBATCH --time={time}")
    return lines


def _body(line: str) -> list[str]:
    return ["set -euo pipefail",
            "export PYTHONUNBUFFERED=1 SDL_VIDEODRIVER=dummy MPLBACKEND=Agg",
            "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then  # TensorFlow's thread pools: the task's own CPUs",
            "  export TF_NUM_INTRAOP_THREADS=\"$SLURM_CPUS_PER_TASK\"",
            "  export TF_NUM_INTEROP_THREADS=\"$SLURM_CPUS_PER_TASK\"",
            "fi",
            f"srun --kill-on-bad-exit=1 {line}"]
