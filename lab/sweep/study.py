"""Run a sweep's trials on an Optuna study: each trial is an ordinary run folder ``trial-NNN`` of the sweep
folder, its figures reported to the study's pruner after each metrics row.

The study lives in a real database: SQLite in the sweep folder by default, any SQLAlchemy URL with
``--storage`` (several machines then join one study, Optuna's own distributed mode). Counting: the
asked number of trials is met by trials that finished (complete, pruned, or failed by their own
settings) plus those still running; a trial number beyond it is dropped unrun ("surplus"), so two workers
never run one trial too many. A trial whose process died (Ctrl-C, a kill) stays running in the study;
``lab sweep --resume`` on its machine continues its run folder from its last checkpoint, so no trial is
counted twice or lost.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from lab.errors import LabError, Pruned, RunError, TrainingError, UsageError
from lab.execute import execute
from lab.runs import RunDir, atomic_write_text, read_json
from lab.seeding import stream_seed
from lab.sweep.space import SWEEP_FILE, Param, parse_param

NOT_COUNTED = "not_counted"  # user attribute: why a failed trial takes no place among the asked ones


@dataclass
class Sweep:
    """The settings of one sweep folder (``sweep.json``)."""

    folder: Path
    scenario: str  # the scenario file, absolute
    overrides: list[str]
    params: list[Param]
    trials: int
    metric: str
    direction: str  # maximize | minimize
    progress: str | None  # the metrics column reported to the pruner
    progress_sign: int  # +1, or -1 when the column is better the other way
    pruner: str
    timeout: float | None
    storage: str
    study: str
    seed: int
    task: str
    prune_after: int = 1  # metrics rows a trial reports before the pruner may stop it
    created: float = field(default_factory=time.time)

    def save(self) -> None:
        data = {**asdict(self), "folder": str(self.folder),
                "params": {p.path: p.spec for p in self.params}}
        atomic_write_text(self.folder / SWEEP_FILE, json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path) -> Sweep:
        path = folder / SWEEP_FILE
        if not path.is_file():
            raise RunError(f"{folder}: not a sweep folder (no {SWEEP_FILE}); give the folder `lab sweep` "
                           "printed")
        data = read_json(path, "sweep settings", dict)
        try:
            data["params"] = [parse_param(f"{k}={v}", str(path)) for k, v in data["params"].items()]
            data["folder"] = folder
            return cls(**data)
        except (KeyError, TypeError, AttributeError) as exc:
            raise RunError(f"{path}: not settings `lab sweep` wrote ({exc})") from None


def optuna_module():
    """Optuna, or a UsageError saying how to install it (the `sweep` extra)."""
    if importlib.util.find_spec("optuna") is None:
        raise UsageError("lab sweep needs Optuna: pip install -e '.[sweep]' (or pip install optuna)")
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def sqlite_url(folder: Path) -> str:
    return f"sqlite:///{(folder / 'study.db').resolve()}"


def open_study(sweep: Sweep, worker: int = 0):
    """The sweep's study (created on first use), with its sampler (TPE seeded from the scenario's seed and
    the worker, so that workers do not propose the same settings) and pruner."""
    optuna = optuna_module()
    host = "" if sweep.storage == sqlite_url(sweep.folder) else socket.gethostname()
    sampler = optuna.samplers.TPESampler(seed=stream_seed(sweep.seed, f"sweep-sampler-{host}-{worker}"))
    pruner = {"median": optuna.pruners.MedianPruner(n_startup_trials=2),
              "hyperband": optuna.pruners.HyperbandPruner(),
              "none": optuna.pruners.NopPruner()}[sweep.pruner]
    try:
        storage = optuna.storages.RDBStorage(sweep.storage, engine_kwargs=_engine_kwargs(sweep.storage))
        return optuna.create_study(storage=storage, study_name=sweep.study, direction=sweep.direction,
                                   sampler=sampler, pruner=pruner, load_if_exists=True)
    except ImportError as exc:
        raise UsageError(f"--storage {_shown(sweep.storage)}: its database driver is missing ({exc}); "
                         "install it (PostgreSQL: pip install -e '.[postgres]')") from None
    except Exception as exc:  # SQLAlchemy's errors (unreachable server, bad URL, a study of another kind)
        if isinstance(exc, LabError):
            raise
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageError(f"--storage {_shown(sweep.storage)}: cannot open the study there: {first}") from None


def _engine_kwargs(url: str) -> dict:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # several local workers wait for the file lock
    return {"pool_pre_ping": True}


def _shown(url: str) -> str:
    """The URL without its password."""
    head, at, tail = url.rpartition("@")
    if not at or ":" not in head.split("//", 1)[-1]:
        return url
    scheme, _, cred = head.partition("//")
    return f"{scheme}//{cred.split(':', 1)[0]}:***@{tail}"


# --------------------------------------------------------------------------------------------------
# Counting trials


def takes_place(t) -> bool:
    """Whether a trial counts among the asked ones: finished or still running, not dropped or lost."""
    name = t.state.name
    if name in ("COMPLETE", "PRUNED", "RUNNING", "WAITING"):
        return True
    return name == "FAIL" and not t.user_attrs.get(NOT_COUNTED)


def counts(study) -> dict[str, int]:
    out = {"complete": 0, "pruned": 0, "failed": 0, "running": 0, "dropped": 0}
    for t in study.get_trials(deepcopy=False):
        name = t.state.name
        if name == "FAIL":
            out["dropped" if t.user_attrs.get(NOT_COUNTED) else "failed"] += 1
        elif name in ("COMPLETE", "PRUNED", "RUNNING"):
            out[{"COMPLETE": "complete", "PRUNED": "pruned", "RUNNING": "running"}[name]] += 1
    out["finished"] = out["complete"] + out["pruned"] + out["failed"]
    return out


def _places_before(study, number: int) -> int:
    return sum(takes_place(t) for t in study.get_trials(deepcopy=False) if t.number < number)


# --------------------------------------------------------------------------------------------------
# Working


def work(sweep: Sweep, worker: int = 0, say=print) -> None:
    """Ask, run and tell trials until the sweep has its trials (or its timeout passed)."""
    optuna = optuna_module()
    study = open_study(sweep, worker)
    study.set_user_attr(f"worker:{socket.gethostname()}:{os.getpid()}",
                        {"index": worker, "started": time.time()})
    start = time.monotonic()
    while sum(takes_place(t) for t in study.get_trials(deepcopy=False)) < sweep.trials:
        if sweep.timeout is not None and time.monotonic() - start > sweep.timeout:
            say(f"worker {worker}: --timeout {sweep.timeout:g} s passed; no new trial started")
            return
        trial = study.ask()
        if _places_before(study, trial.number) >= sweep.trials:  # another worker took the last place
            trial.set_user_attr(NOT_COUNTED, "surplus: the study had its trials")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            return
        values = {p.path: suggest(trial, p) for p in sweep.params}
        run_trial(sweep, study, trial, values, say)


def suggest(trial, p: Param):
    if p.kind == "choice":
        return trial.suggest_categorical(p.path, list(p.choices))
    if p.kind == "int":
        return trial.suggest_int(p.path, int(p.low), int(p.high))
    return trial.suggest_float(p.path, p.low, p.high, log=p.kind == "log")


def trial_folder(number: int) -> str:
    return f"trial-{number:03d}"


def run_trial(sweep: Sweep, study, trial, values: dict, say, resume: bool = False) -> None:
    """Run one trial's run folder (or continue it) and tell the study how it ended."""
    optuna = optuna_module()
    folder = sweep.folder / trial_folder(trial.number)
    for key, value in (("host", socket.gethostname()), ("pid", os.getpid()), ("folder", str(folder))):
        trial.set_user_attr(key, value)
    overrides = [*sweep.overrides, *(p.override(values[p.path]) for p in sweep.params)]
    shown = ", ".join(f"{k}={v if isinstance(v, str) else f'{v:.4g}'}" for k, v in values.items())
    t0 = time.monotonic()
    where = ({"resume": str(folder)} if resume else
             {"scenario_file": sweep.scenario, "overrides": overrides, "folder": trial_folder(trial.number)})
    try:
        run = execute(**{"scenario_file": None, **where}, out=str(sweep.folder), quiet=True,
                      on_metrics=reporter(sweep, trial))
    except Pruned as exc:
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        say(f"trial {trial.number}: {shown} -> pruned ({exc})")
        return
    except TrainingError as exc:  # the settings made it fail: a finished, failed trial
        trial.set_user_attr("error", str(exc))
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        say(f"trial {trial.number}: {shown} -> failed: {exc}")
        return
    except LabError as exc:  # missing data, a full disk ...: no fault of the settings; the sweep stops
        trial.set_user_attr(NOT_COUNTED, f"stopped by an error: {str(exc)[:200]}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        raise
    tell_result(study, trial, run, sweep, f"trial {trial.number}: {shown}", time.monotonic() - t0, say)


def tell_result(study, trial, run: RunDir, sweep: Sweep, label: str, seconds: float, say) -> None:
    optuna = optuna_module()
    value = run.summary().get(sweep.metric)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        trial.set_user_attr("error", f"{sweep.metric} is {value!r} in {run.summary_path}")
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
        say(f"{label} -> failed: {sweep.metric} is {value!r}")
        return
    study.tell(trial, float(value))
    say(f"{label} -> {sweep.metric} {value:.6g} ({seconds:.1f} s)")


def reporter(sweep: Sweep, trial):
    """The run's on_metrics: report the progress column to the trial; raise Pruned when it should stop."""

    rows = [0]

    def on_metrics(step: int, figures: dict) -> None:
        value = figures.get(sweep.progress) if sweep.progress else None
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return
        trial.report(sweep.progress_sign * float(value), step)
        rows[0] += 1
        if rows[0] > sweep.prune_after and trial.should_prune():
            raise Pruned(f"{sweep.progress} {value:.4g} at step {step}")

    return on_metrics


# --------------------------------------------------------------------------------------------------
# Resuming


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def continue_stale(sweep: Sweep, say=print) -> int:
    """Continue this machine's trials whose process died (from their run folders); returns how many."""
    optuna = optuna_module()
    study = open_study(sweep)
    host, done = socket.gethostname(), 0
    for frozen in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        attrs = frozen.user_attrs
        if attrs.get("host") != host or alive(int(attrs.get("pid", 0))):
            continue  # another machine's, or a live worker's
        trial = optuna.trial.Trial(study, frozen._trial_id)
        folder = Path(attrs.get("folder", ""))
        if not (folder / "run.json").is_file():  # died before its run folder was made
            trial.set_user_attr(NOT_COUNTED, "interrupted before its run folder was made")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        run = RunDir.open(folder)
        if run.status == "complete":
            tell_result(study, trial, run, sweep, f"trial {frozen.number} (finished before)", 0.0, say)
        else:
            say(f"trial {frozen.number}: continuing {folder} from its last checkpoint")
            run_trial(sweep, study, trial, frozen.params, say, resume=True)
        done += 1
    return done
