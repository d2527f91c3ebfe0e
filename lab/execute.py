"""Run a scenario end to end: validate -> run folder -> strategy -> seed -> runner -> summary and report.

Imported by the ``run`` command only (it imports TensorFlow, through the strategy and the runner).
"""

from __future__ import annotations

import importlib.metadata
import math
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from lab import backend, cluster, distributed, registry, scenario, seeding, strategy
from lab.context import RunContext, markdown_table
from lab.errors import LabError, Pruned, RunError, ScenarioError, StopRequested, TrainingError
from lab.runs import RunDir, atomic_write_json, atomic_write_text, sanitise_name

PACKAGES = ("tensorflow", "keras", "jax", "gymnasium", "numpy", "pygame", "pydantic", "matplotlib", "pyyaml")
TIMING_KEYS = ("_seconds", "_per_second", "seconds")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def prepare(scenario_file: str | None, overrides=(), out: str | None = None, resume: str | None = None,
            folder: str | None = None, continue_: bool = False):
    """Validate the scenario and create (or reopen) the run folder (named ``folder`` inside ``out`` if
    given, e.g. a sweep's ``trial-007``; else ``<time>-<name>``). No TensorFlow yet.

    ``continue_`` (with ``folder``): if that folder holds a run of the same resolved scenario already (a
    cluster job restarted, a Slurm job requeued), continue it as ``--resume`` would."""
    if resume:
        if overrides:
            raise ScenarioError("--set cannot be combined with --resume: a resumed run keeps its own "
                                "scenario")
        run = RunDir.open(resume)
        cfg = scenario.validate(run.read_scenario(), str(run.scenario_path))
        if scenario_file:
            other = scenario.load_scenario(scenario.resolve_scenario_path(scenario_file))
            if other.task != cfg.task:
                raise RunError(f"{run.path} is a {cfg.task} run, but {scenario_file} is a {other.task} "
                               f"scenario")
        if run.status == "complete":
            raise RunError(f"{run.path}: this run is already complete; start a new one with `lab run "
                           f"{scenario_file or 'FILE'}`")
        if not _is_chief(cfg):
            return cfg, _scratch_run(cfg)
        return cfg, run
    if not scenario_file:
        raise ScenarioError("give a scenario file (or --resume RUN_DIR)")
    cfg = scenario.load_scenario(scenario.resolve_scenario_path(scenario_file), overrides)
    if continue_ and folder and (Path(out or cfg.output) / sanitise_name(folder)).exists():
        if not _is_chief(cfg):  # (the chief may be creating that very folder: only it reads the folder)
            return cfg, _scratch_run(cfg)
        return _continue(cfg, Path(out or cfg.output) / sanitise_name(folder))
    run = (RunDir.create(out or cfg.output, cfg.name, cfg.task, folder=folder) if _is_chief(cfg)
           else _scratch_run(cfg))
    atomic_write_text(run.scenario_path, scenario.dump(cfg))
    return cfg, run


def _continue(cfg, path: Path):
    if scenario.dump(cfg) != scenario.dump(scenario.validate(RunDir.open(path).read_scenario(), str(path))):
        raise RunError(f"{path}: this run folder holds another scenario (a changed file or --set); give "
                       f"another --folder, or remove the folder to start over")
    return prepare(None, (), resume=str(path))


SCRATCH_PREFIX = "lab-worker-"


def _is_chief(cfg) -> bool:
    """False for the workers of a multi-worker run other than the chief (TF_CONFIG says which is which,
    written from Slurm's or a Kubernetes Indexed Job's variables where those describe the cluster)."""
    if cfg.strategy == "multi-worker":
        cluster.adopt()
    if cfg.strategy != "multi-worker" or not os.environ.get("TF_CONFIG"):
        return True  # (no TF_CONFIG: `lab launch` preparing the folder, or a mistake `start` reports)
    return distributed.role().is_chief  # TF_CONFIG checked here, before anything else


def _scratch_run(cfg) -> RunDir:
    """A temporary run folder for a worker that is not the chief (removed when it ends): the chief writes
    the run's files, the others only compute."""
    run = RunDir.create(tempfile.mkdtemp(prefix=SCRATCH_PREFIX), cfg.name, cfg.task)
    atomic_write_text(run.scenario_path, scenario.dump(cfg))
    return run


def is_scratch(run: RunDir) -> bool:
    return run.path.parent.name.startswith(SCRATCH_PREFIX)


def start(cfg, run: RunDir, quiet: bool = False, resume: bool = False, live=None) -> RunContext:
    """Choose the strategy, seed everything, write env.json and return the runner's context."""
    strategy.prepare_process(cfg.strategy)
    strat, info = strategy.select(cfg.strategy, cfg.precision, cfg.jit_compile, type(cfg).supports)
    seeding.seed_everything(cfg.seed, cfg.deterministic)
    env = {
        "packages": package_versions(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "devices": strategy.devices(),
        "keras_backend": backend.keras_backend(),
        "strategy": info.as_dict(),
        "seed": cfg.seed,
        "deterministic": cfg.deterministic,
        "command": " ".join(sys.argv),
    }
    if cfg.strategy == "multi-worker":
        env["cluster"] = cluster.describe()
    if resume and run.env_path.exists():
        env["resumed"] = True
    atomic_write_json(run.env_path, env)
    return RunContext(run, strat, info, quiet=quiet, resume=resume, is_chief=not is_scratch(run), live=live)


def execute(scenario_file: str | None, overrides=(), out: str | None = None, resume: str | None = None,
            quiet: bool = False, folder: str | None = None, on_metrics=None, live=None) -> RunDir:
    """Validate, create the run folder and run it; returns the finished run folder. ``on_metrics(step,
    figures)`` is called after each metrics row (a study's pruner: it may raise :class:`Pruned`); ``live``: a
    :class:`lab.context.LiveSettings` for a task that can show its learning live."""
    cfg, run = prepare(scenario_file, overrides, out, resume, folder=folder)
    return run_prepared(cfg, run, quiet=quiet, resume=bool(resume), on_metrics=on_metrics, live=live)


def run_prepared(cfg, run: RunDir, quiet: bool = False, resume: bool = False, on_metrics=None,
                 live=None) -> RunDir:
    if is_scratch(run):
        try:
            return _run(cfg, run, quiet, resume, on_metrics)
        finally:
            shutil.rmtree(run.path.parent, ignore_errors=True)
    with run.lock():  # one process at a time works on a run folder (a RunError names the other one)
        if resume and run.status == "complete":  # finished while this process was starting
            raise RunError(f"{run.path}: this run is already complete; start a new one with `lab run FILE`")
        return _run(cfg, run, quiet, resume, on_metrics, live)


def _run(cfg, run: RunDir, quiet: bool, resume: bool, on_metrics=None, live=None) -> RunDir:
    try:
        ctx = start(cfg, run, quiet=quiet, resume=resume, live=live)
        ctx.on_metrics = on_metrics
    except LabError:  # e.g. strategy gpu without a GPU: nothing ran, so no run folder is left behind
        if not resume and run.status == "created":
            shutil.rmtree(run.path, ignore_errors=True)
        raise
    if not quiet:
        print(f"{cfg.task}: {cfg.name} -> {run.path} (strategy {ctx.strategy_info.chosen}: "
              f"{ctx.strategy_info.reason})",
              file=sys.stderr, flush=True)
    run.write_marker(status="running")
    t0 = time.time()
    runner = registry.runner(cfg.task)
    try:
        with ctx.device_scope():
            summary = runner(cfg, ctx)
    except KeyboardInterrupt as exc:
        run.write_marker(status="interrupted")
        ctx.close()
        how = "stopped from the live window" if isinstance(exc, StopRequested) else "\ninterrupted"
        print(f"{how}; continue with: lab run --resume {run.path}", file=sys.stderr)
        raise
    except Pruned:
        run.write_marker(status="pruned")
        ctx.close()
        raise
    except BaseException:
        run.write_marker(status="failed")
        ctx.close()
        raise
    ctx.close()
    summary = {k: _plain(v) for k, v in (summary or {}).items()}
    bad = {k: v for k, v in summary.items() if isinstance(v, float) and not math.isfinite(v)}
    if bad:  # never a summary.json with NaN and exit 0: the run failed, and says which figures
        run.write_marker(status="failed")
        raise TrainingError(f"{run.path}: the run ended with figures that are not numbers: "
                            f"{', '.join(f'{k} = {v}' for k, v in bad.items())} (metrics.csv shows the "
                            f"epochs before); lower the learning rate or check the data, and start it again")
    summary.setdefault("wall_seconds", round(time.time() - t0, 3))
    atomic_write_json(run.summary_path, summary)
    write_report(cfg, run, ctx, summary)
    run.write_marker(status="complete")
    return run


def _plain(v):
    if hasattr(v, "item"):
        return v.item()
    return v


def write_report(cfg, run: RunDir, ctx: RunContext, summary: dict) -> None:
    info = ctx.strategy_info
    lines = [
        f"# {cfg.name}",
        "",
        cfg.description or "",
        "",
        f"- task: `{cfg.task}` ({registry.spec(cfg.task).summary})",
        f"- seed: {cfg.seed}; strategy: {info.requested} -> {info.chosen} ({info.reason}); precision: "
        f"{info.precision}; XLA: {'on' if info.jit_compile else 'off'} ({info.jit_reason})",
        f"- resolved scenario: [{run.scenario_path.name}]({run.scenario_path.name}); environment: "
        f"[env.json](env.json)",
        "",
        "## Final figures",
        "",
        *markdown_table(
            [{"figure": k, "value": v} for k, v in summary.items() if not isinstance(v, (dict, list))]),
        "",
    ]
    nested = [k for k, v in summary.items() if isinstance(v, (dict, list))]
    if nested:  # a bench's rows of figures: the sections below show them as tables
        lines += [f"Lists and tables of figures in [summary.json](summary.json): {', '.join(nested)}.", ""]
    for title, body in ctx.report.sections:
        lines += [f"## {title}", "", *body, ""]
    atomic_write_text(run.report_path, "\n".join(lines))


def is_timing_key(key: str) -> bool:
    """Figures that measure time (they differ between identical runs)."""
    return any(key.endswith(s) for s in TIMING_KEYS)


