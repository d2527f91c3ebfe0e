"""Job files for engines people already run: an sbatch script for Slurm (:mod:`lab.deploy.slurm`),
Kubernetes manifests (:mod:`lab.deploy.k8s`). Nothing here schedules anything: the files run ``lab run``
with TensorFlow's multi-worker runtime, and each worker finds the others through :mod:`lab.cluster`.

This module checks what both have in common: the scenario (validated with the overrides, strategy
``multi-worker`` when there is more than one worker - a task that cannot run it is refused here, before
anything is written) and the worker count. No TensorFlow.
"""

from __future__ import annotations

import re
from pathlib import Path

from lab import scenario
from lab.errors import RunError, ScenarioError, UsageError
from lab.launch import STRATEGY, check_workers
from lab.runs import RunDir

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def resolve(scenario_file: str | None, overrides: list[str], workers: int):
    """(validated scenario, its file's absolute path, the overrides the job passes to ``lab run``).

    More than one worker adds ``strategy=multi-worker`` (a task that does not support it is refused with
    the validation's reason); one worker keeps the scenario's own strategy."""
    check_workers(workers)
    if not scenario_file:
        raise ScenarioError("give a scenario file (or --resume RUN_DIR)")
    path = scenario.resolve_scenario_path(scenario_file)
    extra = list(overrides)
    if workers > 1:
        for text in overrides:
            key, value = scenario.parse_override(text)
            if key == ["strategy"] and value != STRATEGY:
                raise ScenarioError(f"--set {text}: a job of {workers} workers runs strategy {STRATEGY}; "
                                    f"drop the --set, or use --workers 1")
        extra.append(f"strategy={STRATEGY}")
    try:
        cfg = scenario.load_scenario(path, extra)
    except ScenarioError as exc:
        if workers > 1 and any("strategy" in p for p in [exc.message, *exc.problems]):
            raise ScenarioError(f"{scenario_file}: --workers {workers} needs strategy {STRATEGY}, which this "
                                f"task cannot run; use --workers 1", exc.problems) from None
        raise
    return cfg, path.resolve(), extra


def resumable(run_dir: str) -> tuple[RunDir, dict]:
    """A run folder to continue (not complete) and its resolved scenario."""
    run = RunDir.open(run_dir)
    if run.status == "complete":
        raise RunError(f"{run.path}: this run is already complete; nothing to resume")
    return run, run.read_scenario()


def job_name(given: str | None, scenario_name: str) -> str:
    """A Kubernetes/Slurm-safe job name: ``given`` checked, or ``lab-<scenario name>`` made safe (lower case
    letters, digits and '-', at most 40 characters, so pod names ``<job>-<index>`` stay DNS labels)."""
    if given is not None:
        if not DNS_LABEL.match(given) or len(given) > 40:
            raise UsageError(f"--name {given!r}: use lower-case letters, digits and '-' (not at the ends), "
                             f"at most 40 characters")
        return given
    name = re.sub(r"[^a-z0-9-]+", "-", f"lab-{scenario_name}".lower()).strip("-")[:40].rstrip("-")
    return name or "lab"


def absolute(path: str | Path) -> str:
    return str(Path(path).expanduser().resolve())
